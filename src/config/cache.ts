/**
 * The CLI's cache of its validated config: the same config text under the same environment,
 * --target and posefactory build validates to the same result, so a run whose inputs are
 * those of the last run on that config file takes the result from
 * `<cache>/config/<hash of the file's path>.json` and replays its warnings, without loading
 * YAML or building the zod schema (building it is the largest part of a start: ~17 ms of a
 * ~100 ms `posefactory upload` with nothing to do). Anything else validates as load.ts
 * always did, then is written for the next run. Errors are never cached.
 *
 * The key is a sha256 of every input of the validation: the file's path and text (or the
 * folder, when running on defaults), the POSEFACTORY_* values load.ts applies, --target, and
 * the build (`sourceId`: a hash of the source, set by scripts/bundle.mjs; without one, as
 * under tsx, there is no cache). A result is kept only if it survives JSON unchanged.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { ENV_KEYS, findConfigFile, type LoadOptions } from "./find.js";
import type { ResolvedConfig } from "./schema.js";

/** Bumped when the entry's layout changes. */
const FORMAT = 1;

export interface ConfigCache {
  /** `<cache>/config`. */
  dir: string;
  /** The build's source hash: a new build never reads another's entries. */
  sourceId: string;
}

interface Entry {
  format: number;
  key: string;
  warnings: string[];
  resolved: ResolvedConfig;
}

/** loadConfig (load.ts), through the cache when one is given. */
export async function loadConfigCached(
  options: LoadOptions,
  cache: ConfigCache | undefined,
): Promise<ResolvedConfig> {
  const path = findConfigFile(options);
  if (!cache || (!path && options.required !== false)) return validate(options);
  const text = path ? fs.readFileSync(path, "utf8") : "";
  const env = options.env ?? process.env;
  const key = createHash("sha256")
    .update(
      JSON.stringify([
        FORMAT,
        cache.sourceId,
        path ?? null,
        // Without a file, relative paths resolve against the working folder.
        path ? null : process.cwd(),
        text,
        Object.keys(ENV_KEYS).map((name) => env[name] ?? null),
        options.target ?? null,
      ]),
    )
    .digest("hex");
  const file = join(
    cache.dir,
    `${createHash("sha256")
      .update(path ?? `(defaults) ${process.cwd()}`)
      .digest("hex")
      .slice(0, 32)}.json`,
  );
  const entry = readEntry(file);
  if (entry?.key === key) {
    for (const warning of entry.warnings) options.onWarning?.(warning);
    return entry.resolved;
  }
  const warnings: string[] = [];
  const resolved = await validate(
    {
      ...options,
      onWarning: (message) => {
        warnings.push(message);
        options.onWarning?.(message);
      },
    },
    path ? { path, text } : undefined,
  );
  writeEntry(file, { format: FORMAT, key, warnings, resolved });
  return resolved;
}

/** load.ts's validation, loaded only now: it brings YAML and the zod schema. */
async function validate(
  options: LoadOptions,
  read?: { path: string; text: string },
): Promise<ResolvedConfig> {
  const { loadConfig, parseConfigText, resolveTarget } = await import("./load.js");
  if (!read) return loadConfig(options);
  // The text the key was made of, not the file read again: it may have changed meanwhile.
  const config = parseConfigText(
    read.text,
    read.path,
    options.env ?? process.env,
    options.onWarning,
  );
  return resolveTarget(config, read.path, options.target);
}

function readEntry(file: string): Entry | undefined {
  try {
    const entry = JSON.parse(fs.readFileSync(file, "utf8")) as Entry;
    return entry.format === FORMAT ? entry : undefined;
  } catch {
    return undefined;
  }
}

/** Only what JSON carries exactly; written beside, then renamed; failures ignored. */
function writeEntry(file: string, entry: Entry): void {
  const json = JSON.stringify(entry);
  if (!isDeepStrictEqual((JSON.parse(json) as Entry).resolved, entry.resolved)) return;
  const temp = `${file}.${process.pid}.tmp`;
  try {
    fs.mkdirSync(join(file, ".."), { recursive: true });
    fs.writeFileSync(temp, json);
    fs.renameSync(temp, file);
  } catch {
    fs.rmSync(temp, { force: true });
  }
}
