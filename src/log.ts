/**
 * One pino logger on stderr. Human-readable on a TTY (pino-pretty, in-process so lines are
 * never lost on exit), JSON lines with --log-json, optional JSON log file. Every line passes
 * through scrubSecrets() and pino's path redaction before it is written.
 */
import { createWriteStream, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { Writable } from "node:stream";
import pino, { type Logger } from "pino";
import pretty from "pino-pretty";
import { scrubSecrets } from "./secrets.js";

export type { Logger };

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "silent";

export interface LoggerOptions {
  level?: LogLevel;
  json?: boolean;
  color?: boolean;
  file?: string;
  /** Where human/JSON lines go; defaults to process.stderr. Tests pass their own. */
  stream?: NodeJS.WritableStream;
}

/** Structured fields that may hold secrets, whatever their value. */
export const REDACT_PATHS = [
  "secretAccessKey",
  "*.secretAccessKey",
  "*.*.secretAccessKey",
  "accessKeyId",
  "*.accessKeyId",
  "*.*.accessKeyId",
  "password",
  "*.password",
  "env",
  "*.env",
  "credentials",
  "*.credentials",
  "apiKey",
  "*.apiKey",
  "authorization",
  "*.authorization",
];

/** -v / -q / POSEFACTORY_LOG to a pino level; flags win over the environment. */
export function resolveLogLevel(
  opts: { verbose?: number; quiet?: boolean },
  env: NodeJS.ProcessEnv = process.env,
): LogLevel {
  if (opts.quiet) return "warn";
  if (opts.verbose && opts.verbose >= 2) return "trace";
  if (opts.verbose === 1) return "debug";
  const fromEnv = env.POSEFACTORY_LOG?.toLowerCase();
  if (fromEnv && ["trace", "debug", "info", "warn", "error", "silent"].includes(fromEnv)) {
    return fromEnv as LogLevel;
  }
  return "info";
}

function scrubbingStream(target: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk, _enc, done) {
      target.write(scrubSecrets(chunk.toString()));
      done();
    },
  });
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const target = options.stream ?? process.stderr;
  const streams: pino.StreamEntry[] = [];
  const isTty = (target as { isTTY?: boolean }).isTTY === true;
  if (options.json) {
    streams.push({ stream: scrubbingStream(target) });
  } else {
    streams.push({
      stream: pretty({
        destination: scrubbingStream(target),
        colorize: isTty && (options.color ?? !process.env.NO_COLOR),
        ignore: "pid,hostname",
        translateTime: "HH:MM:ss",
        sync: true,
      }),
    });
  }
  if (options.file) {
    mkdirSync(dirname(options.file), { recursive: true });
    streams.push({ stream: scrubbingStream(createWriteStream(options.file, { flags: "a" })) });
  }
  return pino(
    {
      level: options.level ?? "info",
      base: undefined,
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    },
    pino.multistream(streams.map((s) => ({ ...s, level: "trace" as const }))),
  );
}

/** A logger that drops everything: for library callers that pass none. */
export function createSilentLogger(): Logger {
  return pino({ level: "silent" });
}
