import { readFileSync } from "node:fs";
import { packagePath } from "../package-root.js";

/**
 * The one quoting helper for every command posefactory sends to a shell. POSIX single quotes
 * pass every byte through literally (spaces, $, backticks, ;, newlines, non-ASCII); a single
 * quote itself is closed, escaped and reopened.
 */
export function quoteShell(arg: string): string {
  if (arg === "") return "''";
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** A command line from words, each quoted. */
export function buildCommand(words: readonly string[]): string {
  return words.map(quoteShell).join(" ");
}

/** `export NAME='value'` lines for the top of a script sent on stdin (never on a command line). */
export function buildExports(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([name, value]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
        throw new Error(`invalid environment name: ${name}`);
      return `export ${name}=${quoteShell(value)}\n`;
    })
    .join("");
}

export interface ScriptParts {
  script: string;
  env?: Record<string, string>;
  /** Created when missing; the script runs inside it. */
  cwd?: string;
}

/**
 * The whole text sent on stdin to `bash --noprofile --norc -s`: exports first (so secrets
 * travel inside the script, never on a command line), then the working directory, then the
 * caller's script. `exit` in the script ends it as usual.
 */
export function buildScript(parts: ScriptParts): string {
  let text = "";
  if (parts.env && Object.keys(parts.env).length > 0) text += buildExports(parts.env);
  if (parts.cwd !== undefined && parts.cwd !== "") {
    const dir = quoteShell(parts.cwd);
    text += `mkdir -p -- ${dir} && cd -- ${dir} || exit 1\n`;
  }
  // Braces make bash read the whole script before running any of it: a command that reads
  // stdin (apt-get, ssh, a prompt) then gets end-of-file instead of the rest of the script.
  text += `{\n${parts.script}${parts.script.endsWith("\n") ? "" : "\n"}}\n`;
  return text;
}

/** How every executor starts bash: no rc files (root's ~/.bashrc costs 100-300 ms), script on stdin. */
export const BASH_STDIN_ARGS = ["--noprofile", "--norc", "-s"] as const;

/**
 * Shell functions shared by every script that manages process groups (pf_group_alive,
 * pf_stop_group): blender/host/group.sh, also shipped to the render host.
 */
export const GROUP_FUNCTIONS = readFileSync(packagePath("blender", "host", "group.sh"), "utf8");

/** A script that terminates process group `pgid`: TERM, up to `graceSeconds`, then KILL. */
export function buildStopGroupScript(pgid: number, graceSeconds: number): string {
  if (!Number.isInteger(pgid) || pgid <= 1) throw new Error(`invalid process group: ${pgid}`);
  const tenths = Math.max(0, Math.round(graceSeconds * 10));
  return `PF_PGID=${pgid}\nPF_GRACE_TENTHS=${tenths}\n${GROUP_FUNCTIONS}pf_stop_group\n`;
}
