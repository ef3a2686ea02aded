import { resolve } from "node:path";
import { quoteShell } from "../remote/shell.js";
import { choice } from "./options.js";
import { defineCommand } from "./types.js";

/** The shell aliases, one per everyday command; `pf_pipeline` is the one to remember. */
export const ALIAS_COMMANDS = [
  "upload",
  "render",
  "detect",
  "download",
  "pipeline",
  "status",
  "logs",
  "report",
] as const;

export function buildAliases(
  configPath: string | undefined,
  shell: string,
  target?: string,
): string {
  const parts = ["posefactory"];
  if (configPath) parts.push("--config", quoteShell(configPath));
  if (target) parts.push("--target", quoteShell(target));
  const base = parts.join(" ");
  const lines = [
    `# posefactory aliases for ${shell}: add to ${shell === "zsh" ? "~/.zshrc" : "~/.bashrc"}, or: eval "$(posefactory aliases)"`,
    ...ALIAS_COMMANDS.map((name) => `alias pf_${name}=${quoteShell(`${base} ${name}`)}`),
  ];
  return `${lines.join("\n")}\n`;
}

export const command = defineCommand({
  name: "aliases",
  description: "print pf_* shell aliases (zsh/bash) that call posefactory with this config",
  options: { shell: choice("--shell <shell>", "zsh or bash", ["zsh", "bash"], "zsh") },
  needsConfig: false,
  async run(_args, options, ctx) {
    const path = ctx.resolved.path ? resolve(ctx.resolved.path) : undefined;
    const text = buildAliases(path, options.shell, ctx.global.target);
    ctx.output.text(text.trimEnd());
    ctx.output.result({ shell: options.shell, aliases: text.trim().split("\n").slice(1) });
    return 0;
  },
});
