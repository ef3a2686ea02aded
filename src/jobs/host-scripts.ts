/**
 * The scripts in blender/host/ (shellcheck-clean bash, shipped with the package and uploaded
 * with blender/): read once, sent to the host on stdin or written into the run's folder.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { quoteShell } from "../remote/shell.js";
import { BLENDER_DIR } from "../render/sample.js";

export const HOST_SCRIPTS_DIR = join(BLENDER_DIR, "host");

export type HostScriptName =
  | "lib.sh"
  | "group.sh"
  | "wrapper.sh"
  | "start.sh"
  | "status.sh"
  | "follow.sh"
  | "stop.sh"
  | "job.sh"
  | "rclone.sh"
  | "preflight.sh"
  | "slurm-task.sh";

const cache = new Map<HostScriptName, string>();

export function readHostScript(name: HostScriptName): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = readFileSync(join(HOST_SCRIPTS_DIR, name), "utf8");
    cache.set(name, text);
  }
  return text;
}

/** `NAME=value` lines (quoted) for the top of a script: settings that are not secrets. */
export function buildAssignments(vars: Record<string, string | number>): string {
  return Object.entries(vars)
    .map(([name, value]) => {
      if (!/^[A-Z_][A-Z0-9_]*$/.test(name)) throw new Error(`invalid variable name: ${name}`);
      return `${name}=${quoteShell(String(value))}\n`;
    })
    .join("");
}

/** A script for stdin: the host library, then variables, then the named scripts' bodies. */
export function composeHostScript(
  vars: Record<string, string | number>,
  ...parts: (HostScriptName | { text: string })[]
): string {
  const pieces = [readHostScript("lib.sh"), readHostScript("group.sh"), buildAssignments(vars)];
  for (const part of parts)
    pieces.push(typeof part === "string" ? readHostScript(part) : part.text);
  return pieces.map((p) => (p.endsWith("\n") ? p : `${p}\n`)).join("");
}
