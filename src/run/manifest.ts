/**
 * Reading manifest.json, with one policy everywhere: a missing manifest is `undefined` (the
 * job did not get that far: the caller says what that means), a manifest that is there but
 * is not valid JSON or breaks the contract is an error naming the file and the key path
 * (never silently treated as missing, which would re-render or drop results).
 */
import { existsSync, readFileSync } from "node:fs";
import { UserError } from "../errors.js";
import { type Manifest, manifestSchema } from "../render/manifest.js";

export type { CharacterResult, Manifest } from "../render/manifest.js";

/** Parse and validate manifest.json's text; `where` names it in errors. */
export function parseManifest(text: string, where: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new UserError(`${where} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new UserError(`${where} does not match the manifest contract: ${problems}`);
  }
  return parsed.data;
}

/** The manifest in `file`, or undefined when there is none. */
export function readManifestFile(file: string): Manifest | undefined {
  if (!existsSync(file)) return undefined;
  return parseManifest(readFileSync(file, "utf8"), file);
}

/** The manifest from bytes read elsewhere (a host, storage), or undefined when there were none. */
export function parseManifestData(data: Buffer | undefined, where: string): Manifest | undefined {
  return data === undefined ? undefined : parseManifest(data.toString("utf8"), where);
}
