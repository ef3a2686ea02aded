/**
 * The local Executor: bash on this machine through execa. The script goes on stdin of
 * `bash --noprofile --norc -s`, like on the pod, so both targets run exactly the same text.
 * bash starts in its own process group (detached), so an abort can terminate everything
 * the script started, and the terminal's Ctrl-C reaches posefactory, not the script.
 */
import { readdirSync, readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { execa } from "execa";
import { InterruptedError, tailLines } from "../errors.js";
import type { Logger } from "../log.js";
import { BASH_STDIN_ARGS, buildScript } from "./shell.js";
import type { Executor, RunOptions, RunResult } from "./types.js";

export interface LocalExecutorOptions {
  logger: Logger;
  /** Relative paths (cwd, readFile, writeFile) resolve against this folder. */
  baseDir: string;
  /** The environment bash starts with; the script's own exports come on top. */
  env?: NodeJS.ProcessEnv;
  /** Seconds between TERM and KILL when a run is aborted. */
  graceSeconds?: number;
}

const STDERR_TAIL_BYTES = 16 * 1024;

export function createLocalExecutor(options: LocalExecutorOptions): Executor {
  return new LocalExecutor(options);
}

class LocalExecutor implements Executor {
  readonly kind = "local" as const;
  readonly description = "local";

  constructor(private readonly options: LocalExecutorOptions) {}

  async run(script: string, runOptions: RunOptions = {}): Promise<RunResult> {
    const { signal } = runOptions;
    if (signal?.aborted) throw new InterruptedError();
    const text = buildScript({ script, env: runOptions.env, cwd: runOptions.cwd });
    // bash cannot start in a missing folder (a fresh project before its first run).
    await mkdir(this.options.baseDir, { recursive: true });
    const child = execa("bash", [...BASH_STDIN_ARGS], {
      input: text,
      cwd: this.options.baseDir,
      env: this.options.env ?? process.env,
      extendEnv: false,
      detached: true,
      reject: false,
      buffer: false,
      stripFinalNewline: false,
    });
    const pgid = child.pid;
    let stderrTail = "";
    const encoding = runOptions.encoding ?? "utf8";
    child.stdout?.setEncoding(encoding);
    child.stderr?.setEncoding(encoding);
    child.stdout?.on("data", (chunk: string) => runOptions.onStdout?.(chunk));
    child.stderr?.on("data", (chunk: string) => {
      stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL_BYTES);
      runOptions.onStderr?.(chunk);
    });

    let aborted = false;
    let stopping: Promise<void> | undefined;
    const onAbort = () => {
      aborted = true;
      if (pgid !== undefined) {
        this.options.logger.debug({ pgid }, "aborting local script: stopping its process group");
        stopping = stopProcessGroup(pgid, this.options.graceSeconds ?? 5);
      }
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    // Aborted while connecting or starting: the event has already fired.
    if (signal?.aborted) onAbort();
    try {
      const result = await child;
      if (stopping) await stopping;
      if (aborted) throw new InterruptedError();
      if (result.failed && result.exitCode === undefined) {
        // bash itself could not start, or it died of a signal we did not send.
        if (result.signal) return { exitCode: 128 + signalNumber(result.signal), stderrTail };
        throw new Error(`could not run bash: ${result.message}`, { cause: result.cause });
      }
      return { exitCode: result.exitCode ?? 1, stderrTail: tailLines(stderrTail) };
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  async readFile(path: string): Promise<Buffer | undefined> {
    try {
      return await readFile(resolve(this.options.baseDir, path));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }

  async writeFile(path: string, data: string | Buffer): Promise<void> {
    const full = resolve(this.options.baseDir, path);
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, data);
  }

  async close(): Promise<void> {}
}

function signalNumber(name: string): number {
  const numbers: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return numbers[name] ?? 0;
}

/** TERM the group, wait up to `graceSeconds` for it to go, then KILL what is left. */
export async function stopProcessGroup(pgid: number, graceSeconds: number): Promise<void> {
  if (!sendToGroup(pgid, "SIGTERM")) return;
  const deadline = Date.now() + graceSeconds * 1000;
  while (Date.now() < deadline) {
    if (!isGroupAlive(pgid)) return;
    await sleep(50);
  }
  sendToGroup(pgid, "SIGKILL");
  for (let i = 0; i < 50 && isGroupAlive(pgid); i++) await sleep(100);
}

function sendToGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether any live process is in the group. Reads /proc so zombies count as gone (PID 1
 * does not always reap them); elsewhere (macOS) falls back to kill(0).
 */
export function isGroupAlive(pgid: number): boolean {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    // "pid (comm) state ppid pgrp ...": comm may contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) === pgid && fields[0] !== "Z" && fields[0] !== "X") return true;
  }
  return false;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolveSleep) => setTimeout(resolveSleep, ms));
}
