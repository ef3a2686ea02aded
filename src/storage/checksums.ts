/**
 * The render host pushes results with rclone, which cannot attach x-amz-meta-sha256 per file;
 * it writes `sha256sums.txt` (sha256sum's format) into the run instead, and the download is
 * checked against it here.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { UserError } from "../errors.js";
import { RunFiles } from "../run/paths.js";
import { hashFile } from "./hash.js";

/** Parse `sha256sum` output; names with a backslash or newline are escaped by sha256sum. */
export function parseChecksums(text: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = /^(\\?)([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (!match) continue;
    const name = match[1]
      ? match[3]!.replace(/\\(\\|n)/g, (_m, c: string) => (c === "n" ? "\n" : "\\"))
      : match[3]!;
    sums.set(name.replace(/^\.\//, ""), match[2]!);
  }
  return sums;
}

/**
 * Verify every listed file under `dir`; returns how many were checked. `known`: sha256 by
 * absolute path of files whose bytes were hashed as they were written (this download), so
 * they are not read again; any other file is hashed here.
 */
export async function verifyChecksums(
  dir: string,
  signal?: AbortSignal,
  known?: ReadonlyMap<string, string>,
): Promise<number> {
  const file = join(dir, RunFiles.checksums);
  if (!existsSync(file)) return 0;
  const sums = parseChecksums(readFileSync(file, "utf8"));
  const bad: string[] = [];
  for (const [name, expected] of sums) {
    const path = resolve(dir, name);
    const hashed = known?.get(path);
    if (hashed !== undefined) {
      if (hashed !== expected) bad.push(name);
      continue;
    }
    if (!existsSync(path)) {
      bad.push(`${name} (missing)`);
      continue;
    }
    if ((await hashFile(path, signal)) !== expected) bad.push(name);
  }
  if (bad.length > 0) {
    throw new UserError(
      `${bad.length} downloaded file(s) in ${dir} do not match the render host's sha256sums.txt: ${bad.slice(0, 5).join(", ")}${bad.length > 5 ? ", ..." : ""}. Download again: posefactory download <runId>`,
    );
  }
  return sums.size;
}
