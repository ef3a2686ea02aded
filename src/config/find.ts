/**
 * Where the config comes from, without validating it (no zod, no YAML here): the file
 * (--config, ./posefactory.yaml, ~/.config/posefactory/config.yaml) and the environment
 * variables that set keys. load.ts validates; cache.ts keys its cache on exactly these inputs.
 */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { resolve } from "node:path";
import { UsageError } from "../errors.js";

export const CONFIG_FILE_NAME = "posefactory.yaml";

/** Environment variables that set config keys (validated like file values). */
export const ENV_KEYS: Record<string, { path: string[]; type: "string" | "number" | "boolean" }> = {
  POSEFACTORY_TARGET: { path: ["target"], type: "string" },
  POSEFACTORY_CHARACTERS: { path: ["characters"], type: "string" },
  POSEFACTORY_DATA: { path: ["data"], type: "string" },
  POSEFACTORY_SYNC_CONCURRENCY: { path: ["sync", "concurrency"], type: "number" },
  POSEFACTORY_RENDER_DEVICE: { path: ["render", "device"], type: "string" },
  POSEFACTORY_RENDER_SAMPLES: { path: ["render", "samples"], type: "number" },
  POSEFACTORY_DETECT_BACKEND: { path: ["detect", "backend"], type: "string" },
  POSEFACTORY_DETECT_MODEL: { path: ["detect", "model"], type: "string" },
  POSEFACTORY_BROWSER: { path: ["detect", "browser"], type: "string" },
};

export interface LoadOptions {
  /** --config, when given. */
  configPath?: string;
  /** --target, when given. */
  target?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  home?: string;
  /** false: run on defaults when no file is found (init, aliases, doctor). */
  required?: boolean;
  onWarning?: (message: string) => void;
}

/** --config, then ./posefactory.yaml, then ~/.config/posefactory/config.yaml. */
export function findConfigFile(options: LoadOptions): string | undefined {
  const cwd = options.cwd ?? process.cwd();
  if (options.configPath) {
    const path = resolve(cwd, options.configPath);
    if (!existsSync(path)) {
      throw new UsageError(
        `Config file ${path} not found (given with --config). Create one with: posefactory init`,
      );
    }
    return path;
  }
  const candidates = [
    resolve(cwd, CONFIG_FILE_NAME),
    resolve(options.home ?? homedir(), ".config", "posefactory", "config.yaml"),
  ];
  return candidates.find((path) => existsSync(path));
}
