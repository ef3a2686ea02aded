/**
 * Mapping storage keys to local paths without ever leaving the destination folder.
 * A key is refused when any part of it could escape: absolute, `..` or `.` segments,
 * empty segments, NUL or other control characters, backslashes (a path separator on
 * Windows), or a drive letter.
 */
import { mkdir, realpath } from "node:fs/promises";
import { dirname, isAbsolute, relative, resolve, sep } from "node:path";
import { StorageError } from "./errors.js";

/** Why `rel` (a key relative to the synced prefix) is unsafe as a local path, or undefined. */
export function explainUnsafeKey(rel: string): string | undefined {
  if (rel === "") return "it is empty";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(rel)) return "it contains a control character";
  if (rel.includes("\\")) return "it contains a backslash";
  if (rel.startsWith("/")) return "it is absolute";
  if (/^[A-Za-z]:/.test(rel)) return "it starts with a drive letter";
  const segments = rel.split("/");
  if (segments.some((s) => s === "..")) return "it contains a '..' segment";
  if (segments.some((s) => s === ".")) return "it contains a '.' segment";
  if (segments.some((s) => s === "")) return "it contains an empty segment";
  return undefined;
}

/**
 * The local path for `key` under `root`, where `rel` is the key without the synced prefix.
 * Throws a StorageError naming the key when it would escape `root`.
 */
export function localPathForKey(root: string, key: string, rel: string): string {
  const why = explainUnsafeKey(rel);
  if (why) {
    throw new StorageError(
      "unsafe-key",
      `Refusing key ${JSON.stringify(key)}: ${why}, so it could write outside ${root}. Remove or rename that object in storage.`,
    );
  }
  const base = resolve(root);
  const target = resolve(base, ...rel.split("/"));
  const back = relative(base, target);
  if (back === "" || back.startsWith(`..${sep}`) || back === ".." || isAbsolute(back)) {
    throw new StorageError(
      "unsafe-key",
      `Refusing key ${JSON.stringify(key)}: it resolves outside ${root}. Remove or rename that object in storage.`,
    );
  }
  return target;
}

function isInside(base: string, target: string): boolean {
  const back = relative(base, target);
  return back === "" || (!back.startsWith(`..${sep}`) && back !== ".." && !isAbsolute(back));
}

/**
 * Create the folder `file` goes in and check that, with symlinks resolved, it is still
 * inside `root`: a symlinked folder in the destination must not carry a download elsewhere.
 */
export async function prepareInside(root: string, file: string, key: string): Promise<void> {
  const parent = dirname(file);
  await mkdir(parent, { recursive: true });
  const [realRoot, realParent] = await Promise.all([realpath(root), realpath(parent)]);
  if (!isInside(realRoot, realParent)) {
    throw new StorageError(
      "unsafe-key",
      `Refusing key ${JSON.stringify(key)}: its folder ${parent} is a link to ${realParent}, outside ${root}. Remove that link.`,
    );
  }
}
