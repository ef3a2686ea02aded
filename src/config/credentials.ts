/**
 * Storage credentials. They never live in posefactory.yaml: they come from the environment
 * (POSEFACTORY_S3_* first, then the standard AWS_* names) or from a credentials file the
 * config names, which must not be readable by group or others.
 */
import { readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, resolve } from "node:path";
import { UsageError, UserError } from "../errors.js";
import { registerSecret } from "../secrets.js";
import type { S3StorageConfig } from "./schema.js";

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** Where they came from, for `doctor` (never the values). */
  source: string;
}

/** Expand ~ and resolve relative paths against the config's folder. */
export function resolveUserPath(path: string, baseDir: string, home = homedir()): string {
  if (path === "~") return home;
  if (path.startsWith("~/")) return resolve(home, path.slice(2));
  return isAbsolute(path) ? path : resolve(baseDir, path);
}

function parseCredentialsFile(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith("[")) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*[=:]\s*(.*)$/.exec(line);
    if (!match) continue;
    values[match[1]!.toUpperCase()] = match[2]!.trim().replace(/^(['"])(.*)\1$/, "$2");
  }
  return values;
}

function pick(values: Record<string, string | undefined>, names: string[]): string | undefined {
  for (const name of names) {
    const value = values[name];
    if (value) return value;
  }
  return undefined;
}

const ID_NAMES = ["POSEFACTORY_S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID", "ACCESS_KEY_ID"];
const SECRET_NAMES = [
  "POSEFACTORY_S3_SECRET_ACCESS_KEY",
  "AWS_SECRET_ACCESS_KEY",
  "SECRET_ACCESS_KEY",
];

/** Find S3 credentials or throw a UserError that says how to provide them. */
export function loadS3Credentials(
  storage: S3StorageConfig,
  options: { baseDir: string; env?: NodeJS.ProcessEnv; home?: string },
): S3Credentials {
  const env = options.env ?? process.env;
  const fromEnvId = pick(env, ID_NAMES.slice(0, 2));
  const fromEnvSecret = pick(env, SECRET_NAMES.slice(0, 2));
  if (fromEnvId && fromEnvSecret) {
    registerSecret(fromEnvSecret);
    const source = env.POSEFACTORY_S3_ACCESS_KEY_ID
      ? "POSEFACTORY_S3_* environment"
      : "AWS_* environment";
    return {
      accessKeyId: fromEnvId,
      secretAccessKey: fromEnvSecret,
      source,
      sessionToken: env.AWS_SESSION_TOKEN,
    };
  }
  if (storage.credentialsFile) {
    const file = resolveUserPath(storage.credentialsFile, options.baseDir, options.home);
    let mode: number;
    try {
      mode = statSync(file).mode;
    } catch (error) {
      throw new UsageError(
        `Credentials file ${file} (storage.credentialsFile) cannot be read: create it with ACCESS_KEY_ID=... and SECRET_ACCESS_KEY=... lines, then run: chmod 600 ${file}`,
        { cause: error },
      );
    }
    if ((mode & 0o077) !== 0) {
      throw new UsageError(
        `Credentials file ${file} is readable by group or others (mode ${(mode & 0o777).toString(8)}): run chmod 600 ${file}`,
      );
    }
    const values = parseCredentialsFile(readFileSync(file, "utf8"));
    const accessKeyId = pick(values, ID_NAMES);
    const secretAccessKey = pick(values, SECRET_NAMES);
    if (!accessKeyId || !secretAccessKey) {
      throw new UsageError(
        `Credentials file ${file} needs both ACCESS_KEY_ID=... and SECRET_ACCESS_KEY=... lines`,
      );
    }
    registerSecret(secretAccessKey);
    return { accessKeyId, secretAccessKey, source: file };
  }
  throw new UserError(
    "No storage credentials: set POSEFACTORY_S3_ACCESS_KEY_ID and POSEFACTORY_S3_SECRET_ACCESS_KEY (or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), or name a credentials file in storage.credentialsFile",
    { exitCode: 2 },
  );
}
