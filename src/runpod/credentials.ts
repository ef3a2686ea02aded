/**
 * The RunPod API key: from RUNPOD_API_KEY, else from the credentials file the target names
 * (a `RUNPOD_API_KEY=...` line, mode 600), never from posefactory.yaml itself. Registered as
 * a secret the moment it is read, so no log line, error or output can carry it.
 */
import { readFileSync, statSync } from "node:fs";
import { resolveUserPath } from "../config/credentials.js";
import { UsageError, UserError } from "../errors.js";
import { registerSecret } from "../secrets.js";

export interface RunpodApiKey {
  apiKey: string;
  /** Where it came from, for messages (never the value). */
  source: string;
}

export function loadRunpodApiKey(
  target: { credentialsFile?: string },
  options: { baseDir: string; env: NodeJS.ProcessEnv; home?: string },
): RunpodApiKey {
  const fromEnv = options.env.RUNPOD_API_KEY?.trim();
  if (fromEnv) {
    registerSecret(fromEnv);
    return { apiKey: fromEnv, source: "RUNPOD_API_KEY" };
  }
  if (target.credentialsFile) {
    const file = resolveUserPath(target.credentialsFile, options.baseDir, options.home);
    let mode: number;
    try {
      mode = statSync(file).mode;
    } catch (error) {
      throw new UsageError(
        `RunPod credentials file ${file} (credentialsFile) cannot be read: create it with a RUNPOD_API_KEY=... line, then run: chmod 600 ${file}`,
        { cause: error },
      );
    }
    if ((mode & 0o077) !== 0) {
      throw new UsageError(
        `RunPod credentials file ${file} is readable by group or others (mode ${(mode & 0o777).toString(8)}): run chmod 600 ${file}`,
      );
    }
    const match = /^\s*(?:export\s+)?RUNPOD_API_KEY\s*[=:]\s*(.+?)\s*$/m.exec(
      readFileSync(file, "utf8"),
    );
    const apiKey = match?.[1]?.replace(/^(['"])(.*)\1$/, "$2");
    if (!apiKey)
      throw new UsageError(`RunPod credentials file ${file} needs a RUNPOD_API_KEY=... line`);
    registerSecret(apiKey);
    return { apiKey, source: file };
  }
  throw new UserError(
    "No RunPod API key: create one in RunPod's console (Settings > API Keys), then `export RUNPOD_API_KEY=...`, or put a RUNPOD_API_KEY=... line in a file (chmod 600) named by the target's credentialsFile",
    { exitCode: 2 },
  );
}
