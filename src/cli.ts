#!/usr/bin/env node
/**
 * createProgram(): commander wiring only. main(argv) runs one command in-process and returns
 * its exit code; only the bin entry (the bottom of this file) sets process.exitCode.
 */
import { setMaxListeners } from "node:events";
import { realpathSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, CommanderError, Option } from "commander";
import { defaultCacheDir } from "./cache-dir.js";
import { commands } from "./commands/index.js";
import type { CommandSpec } from "./commands/types.js";
import { type ConfigCache, loadConfigCached } from "./config/cache.js";
import type { Context, GlobalOptions } from "./context.js";
import {
  ExitCode,
  exitCodeOf,
  isAbortError,
  RemoteCommandError,
  UsageError,
  UserError,
} from "./errors.js";
import { createLogger, type Logger, resolveLogLevel } from "./log.js";
import { createOutput, type Io } from "./output.js";
import type { Executor } from "./remote/types.js";
import { scrubSecrets } from "./secrets.js";
import type { Storage } from "./storage/types.js";
import { VERSION } from "./version.js";

export { VERSION };

export interface MainOptions extends Partial<Io> {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Aborts the running command (the bin wires Ctrl-C to it). */
  signal?: AbortSignal;
}

interface RunState {
  exitCode: number;
  cleanup: (() => Promise<void>)[];
}

export function createProgram(options: MainOptions & { state?: RunState } = {}): Command {
  const io: Io = {
    stdout: options.stdout ?? process.stdout,
    stderr: options.stderr ?? process.stderr,
  };
  const state = options.state ?? { exitCode: 0, cleanup: [] };
  const program = new Command("posefactory")
    .description(
      "Render rigged characters from many angles with Blender, detect poses with MediaPipe, score them against ground truth.",
    )
    .version(VERSION, "-V, --version")
    .option(
      "-c, --config <file>",
      "config file (default: ./posefactory.yaml, then ~/.config/posefactory/config.yaml)",
    )
    .option("-t, --target <name>", "target to run on (default: the config's `target`, else local)")
    .option("--json", "print one JSON summary on stdout")
    .addOption(
      new Option("-v, --verbose", "more logs (twice: trace)")
        .argParser((_v: string, prev: number) => prev + 1)
        .default(0),
    )
    .option("-q, --quiet", "warnings and errors only")
    .option("--no-color", "no colors in logs")
    .option("--log-json", "log JSON lines on stderr")
    .option("--log-file <file>", "also append JSON logs to this file")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });

  const parents = new Map<string, Command>();
  for (const spec of commands) {
    const words = spec.name.split(" ");
    let parent = program;
    for (const [i, word] of words.slice(0, -1).entries()) {
      const path = words.slice(0, i + 1).join(" ");
      let sub = parents.get(path);
      if (!sub) {
        sub = parent.command(word).description(`${word} commands`).exitOverride();
        parents.set(path, sub);
      }
      parent = sub;
    }
    // A command may also be the parent of later ones (`runs` lists, `runs show <id>` shows one).
    const command = parents.get(spec.name) ?? parent.command(words.at(-1)!).exitOverride();
    command.description(spec.description);
    parents.set(spec.name, command);
    for (const arg of spec.arguments ?? []) command.argument(arg);
    for (const [key, opt] of Object.entries(spec.options ?? {})) {
      const option = new Option(opt.flags, opt.description);
      // A declaration keyed differently from commander's attribute would never get its value.
      if (option.attributeName() !== key)
        throw new Error(
          `${spec.name}: option ${opt.flags} must be keyed ${option.attributeName()}`,
        );
      // The raw default, named without quotes in --help; it goes through the schema like any value.
      if (opt.defaultValue !== undefined) option.default(opt.defaultValue, opt.defaultValue);
      command.addOption(option);
    }
    command.action(async (...received: unknown[]) => {
      const cmd = received.at(-1) as Command;
      const args = received.slice(0, -2);
      // Checked before the config loads: a bad flag is reported as itself, and nothing runs.
      const values = parseOptionValues(spec, cmd.opts());
      const global = cmd.optsWithGlobals() as GlobalOptions;
      const ctx = await createContext(spec, global, io, options, state);
      state.exitCode = (await spec.run(args, values, ctx)) ?? 0;
    });
  }
  return program;
}

/** Every declared option through its schema; the first bad value is a usage error (exit 2). */
export function parseOptionValues(
  spec: CommandSpec,
  raw: Record<string, unknown>,
): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [key, opt] of Object.entries(spec.options ?? {})) {
    const parsed = opt.schema.safeParse(raw[key]);
    if (!parsed.success) {
      const flag = new Option(opt.flags).long ?? opt.flags;
      throw new UsageError(
        `${flag}: expected ${opt.expected ?? "a valid value"}, got ${JSON.stringify(raw[key])}`,
      );
    }
    values[key] = parsed.data;
  }
  return values;
}

/** A hash of the source, set by scripts/bundle.mjs; undefined when not bundled (tsx, tsc). */
declare const POSEFACTORY_SOURCE_ID: string | undefined;

/** The bundled CLI's cache of validated configs (config/cache.ts), unless turned off. */
function configCacheFor(env: NodeJS.ProcessEnv): ConfigCache | undefined {
  const sourceId = typeof POSEFACTORY_SOURCE_ID === "string" ? POSEFACTORY_SOURCE_ID : undefined;
  if (!sourceId || env.POSEFACTORY_CODE_CACHE === "0") return undefined;
  return { dir: join(defaultCacheDir(env), "config"), sourceId };
}

async function createContext(
  spec: CommandSpec,
  global: GlobalOptions,
  io: Io,
  options: MainOptions,
  state: RunState,
): Promise<Context> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const logger = createLogger({
    level: resolveLogLevel(global, env),
    json: global.logJson,
    color: global.color !== false && !env.NO_COLOR,
    file: global.logFile,
    stream: io.stderr,
  });
  const resolved = await loadConfigCached(
    {
      configPath: global.config,
      target: global.target,
      cwd,
      env,
      required: spec.needsConfig !== false,
      onWarning: (message) => logger.warn(message),
    },
    configCacheFor(env),
  );
  const signal = options.signal ?? new AbortController().signal;
  let storage: Promise<Storage> | undefined;
  let executor: Promise<Executor> | undefined;
  const context: Context = {
    resolved,
    logger,
    global,
    cwd,
    env,
    signal,
    output: createOutput(io, global.json === true),
    storage() {
      storage ??= import("./storage/index.js").then((m) =>
        m.createStorage(resolved.target.storage, {
          baseDir: resolved.baseDir,
          env,
          logger,
          home: env.HOME,
          partSizeMb: resolved.config.sync.partSizeMb,
        }),
      );
      return storage;
    },
    executor() {
      // A runpod target's host is our running pod, found through RunPod's API.
      if (resolved.target.executor === "runpod") {
        executor ??= import("./runpod/provider.js").then(async (m) => {
          const ex = await m.connectToOurPod(m.createPodProvider(context));
          state.cleanup.push(() => ex.close());
          return ex;
        });
        return executor;
      }
      executor ??= import("./remote/index.js").then(async (m) => {
        const ex = await m.createExecutor(resolved.target, {
          logger,
          baseDir: resolved.baseDir,
          env,
          home: env.HOME,
          signal,
        });
        state.cleanup.push(() => ex.close());
        return ex;
      });
      return executor;
    },
  };
  return context;
}

/** Run one command line in-process; never throws; returns the exit code. */
export async function main(argv: string[], options: MainOptions = {}): Promise<number> {
  const stderr = options.stderr ?? process.stderr;
  const state: RunState = { exitCode: 0, cleanup: [] };
  const program = createProgram({ ...options, state });
  try {
    await program.parseAsync(argv, { from: "user" });
    return state.exitCode;
  } catch (error) {
    return reportError(error, stderr, argv);
  } finally {
    for (const cleanup of state.cleanup) await cleanup().catch(() => {});
  }
}

function reportError(error: unknown, stderr: NodeJS.WritableStream, argv: string[]): number {
  const write = (text: string) => stderr.write(`${scrubSecrets(text)}\n`);
  if (error instanceof CommanderError) {
    if (
      error.code === "commander.helpDisplayed" ||
      error.code === "commander.version" ||
      error.code === "commander.help"
    ) {
      return ExitCode.ok;
    }
    // commander already printed its message.
    return ExitCode.usage;
  }
  if (isAbortError(error)) {
    write("posefactory: interrupted");
    return ExitCode.interrupted;
  }
  if (error instanceof UserError || error instanceof RemoteCommandError) {
    write(`posefactory: ${error.message}`);
    return exitCodeOf(error);
  }
  const stack = error instanceof Error ? (error.stack ?? error.message) : String(error);
  write(
    `posefactory: unexpected error (a bug: please report it with the command you ran: posefactory ${argv.join(" ")})\n${stack}`,
  );
  return ExitCode.failed;
}

export type { Logger };

function isMainModule(): boolean {
  if (!process.argv[1]) return false;
  try {
    // The native realpath: one system call, where fs's own walks the path a folder at a time.
    return (
      realpathSync.native(process.argv[1]) === realpathSync.native(fileURLToPath(import.meta.url))
    );
  } catch {
    return false;
  }
}

/**
 * The process's entry: Ctrl-C wiring, then main() on process.argv; sets process.exitCode.
 * Called below when this file is the script node runs (tsc's dist/cli.js, tsx), and by the
 * bundle's launcher (dist/cli.cjs, src/launch/bin.ts), which loads this module as a chunk.
 */
export function runMain(): void {
  // First Ctrl-C aborts the running command (which stops remote work); a second one exits now.
  const controller = new AbortController();
  // Every request and file transfer in flight (up to --concurrency 64) listens to this one
  // signal: past Node's default of 10 it would warn of a leak that is not one.
  setMaxListeners(0, controller.signal);
  let interrupts = 0;
  process.on("SIGINT", () => {
    interrupts += 1;
    if (interrupts > 1) process.exit(ExitCode.interrupted);
    controller.abort();
  });
  process.on("SIGTERM", () => controller.abort());
  main(process.argv.slice(2), { signal: controller.signal }).then((code) => {
    process.exitCode = code;
  });
}

if (isMainModule()) runMain();
