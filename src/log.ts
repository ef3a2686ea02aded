/**
 * One pino logger on stderr. Human-readable on a TTY (pino-pretty, in-process so lines are
 * never lost on exit), JSON lines with --log-json, optional JSON log file. Every line passes
 * through scrubSecrets() and pino's path redaction before it is written.
 * The pino logger is built on the first line that its level lets through: building it (pino,
 * pino-pretty, the redaction) is several milliseconds of every start, and most commands that
 * finish quickly (a no-change upload, `config show`, anything with -q) log nothing.
 */
import { createWriteStream, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import pretty from "pino-pretty";
import { scrubSecrets } from "./secrets.js";

/** What posefactory logs through: pino's methods, `(fields, message)` or `(message)`. */
export type Logger = Pick<pino.Logger, "trace" | "debug" | "info" | "warn" | "error">;

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

/** pino's numbers for its levels. */
const LEVEL_VALUES: Record<LogLevel, number> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  silent: Number.POSITIVE_INFINITY,
};

const ignore = () => {};

export function createLogger(options: LoggerOptions = {}): Logger {
  // A log file is opened (and made) at once, as the user asked for it, lines or not.
  if (options.file) return createPinoLogger(options);
  let logger: pino.Logger | undefined;
  const threshold = LEVEL_VALUES[options.level ?? "info"];
  const method = (level: keyof Logger): pino.LogFn =>
    threshold <= LEVEL_VALUES[level]
      ? (...args: Parameters<pino.LogFn>) => {
          logger ??= createPinoLogger(options);
          logger[level](...args);
        }
      : ignore;
  return {
    trace: method("trace"),
    debug: method("debug"),
    info: method("info"),
    warn: method("warn"),
    error: method("error"),
  };
}

function createPinoLogger(options: LoggerOptions): pino.Logger {
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
  return { trace: ignore, debug: ignore, info: ignore, warn: ignore, error: ignore };
}
