/**
 * The `detached` JobRunner: a run's host work runs on the host in its own session, with its
 * output in `job.log` and its state in `status.json` inside the run's folder, so it survives
 * the laptop going to sleep or the connection dropping. Works over any Executor (local or
 * ssh): everything here is the bash of blender/host/ (start, wrapper, status, follow, stop).
 *
 * The job's environment (for example rclone's credentials) is exported by the script that
 * starts it and inherited by the job: it never lands on the host's disk or a command line.
 *
 * Following streams the log from a byte offset; output is read as latin1 (one character per
 * byte) so the offset stays exact, and after a dropped connection the CLI reconnects and
 * continues from that offset: no gap, no duplicate.
 */
import { randomBytes } from "node:crypto";
import { posix } from "node:path";
import { StringDecoder } from "node:string_decoder";
import { InterruptedError, isAbortError, UserError } from "../errors.js";
import type { Logger } from "../log.js";
import { isConnectionLost } from "../remote/connection.js";
import type { Executor } from "../remote/types.js";
import { HostExit } from "../run/exit-codes.js";
import { hostRunDir, RunFiles } from "../run/paths.js";
import { type JobStatus, parseJobStatus } from "../run/status.js";
import { sleep } from "../sleep.js";
import { buildAssignments, composeHostScript, readHostScript } from "./host-scripts.js";
import type {
  FollowOptions,
  FollowResult,
  HostJob,
  JobRunner,
  StartOptions,
  StopOptions,
} from "./types.js";

export type { JobState, JobStatus } from "../run/status.js";
export type { FollowOptions as AttachOptions, FollowResult as AttachResult } from "./types.js";

/** Files the detached runner itself keeps in a run's folder (never pushed: `.pf-*`). */
const LIB_FILE = ".pf-lib.sh";
const WRAPPER_FILE = ".pf-wrapper.sh";

function heredoc(name: string, content: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(name) || name.startsWith("..")) {
    throw new Error(`invalid job file name: ${name}`);
  }
  const tag = `PF_EOF_${randomBytes(8).toString("hex")}`;
  const body = content.endsWith("\n") ? content : `${content}\n`;
  return `cat > ${name} <<'${tag}'\n${body}${tag}\n`;
}

export interface StartJobOptions {
  /** The job's folder on the host (hostRunDir). */
  dir: string;
  /** bash script the job runs (in `dir`), written there as job.sh. */
  script: string;
  /** More files for `dir`, written before the job starts (name -> text). */
  files?: Record<string, string>;
  /** Exported for the job; inherited, never written to disk. */
  env?: Record<string, string>;
  logger?: Logger;
  signal?: AbortSignal;
  /** Follow the log in the same round trip (follow.sh after the start); see StartOptions. */
  follow?: StartOptions["follow"];
}

/**
 * Start the job detached and return its first status (with `follow`: its final one). Refuses
 * while the same run is running.
 */
export async function startJob(executor: Executor, options: StartJobOptions): Promise<JobStatus> {
  const files: Record<string, string> = {
    ...options.files,
    [LIB_FILE]: readHostScript("lib.sh"),
    [WRAPPER_FILE]: readHostScript("wrapper.sh"),
    "job.sh": options.script,
  };
  const writes = Object.entries(files)
    .map(([name, text]) => heredoc(name, text))
    .join("");
  if (options.follow) return startAndFollow(executor, writes, options, options.follow);
  const starter = composeHostScript({}, "start.sh", {
    text: `pf_refuse_if_running\n${writes}pf_launch\n`,
  });
  let out = "";
  const result = await executor.run(starter, {
    cwd: options.dir,
    env: options.env,
    signal: options.signal,
    onStdout: (chunk) => {
      out += chunk;
    },
  });
  return startedStatus(executor, options, result, out);
}

function startedStatus(
  executor: Executor,
  options: StartJobOptions,
  result: { exitCode: number; stderrTail: string },
  out: string,
): JobStatus {
  if (result.exitCode === HostExit.alreadyRunning) {
    throw new UserError(
      `${result.stderrTail} on ${executor.description}: attach with \`posefactory logs <runId> -f\` or stop it with \`posefactory stop <runId>\`.`,
    );
  }
  if (result.exitCode !== 0) {
    throw new UserError(
      `Could not start the job in ${options.dir} on ${executor.description} (exit ${result.exitCode}): ${result.stderrTail}`,
    );
  }
  const status = parseJobStatus(out);
  if (!status)
    throw new UserError(`The job in ${options.dir} did not report its status: ${out.trim()}`);
  options.logger?.debug({ dir: options.dir, pgid: status.pgid }, "job started");
  return status;
}

/**
 * Start the job and follow its log in one round trip: start.sh prints the first status on
 * stderr, then follow.sh streams job.log on stdout and the final status on stderr. A
 * connection lost after the start continues as attachJob from the bytes already delivered.
 */
async function startAndFollow(
  executor: Executor,
  writes: string,
  options: StartJobOptions,
  follow: NonNullable<StartOptions["follow"]>,
): Promise<JobStatus> {
  const poll = Math.max(0.05, follow.pollSeconds ?? 0.1);
  const script = composeHostScript(
    {},
    "start.sh",
    { text: `pf_refuse_if_running\n${writes}pf_launch >&2\n` },
    { text: buildAssignments({ PF_DIR: ".", PF_OFFSET: 0, PF_FOLLOW: 1, PF_POLL: poll }) },
    "follow.sh",
  );
  const decoder = new StringDecoder("utf8");
  let offset = 0;
  let stderr = "";
  let started: JobStatus | undefined;
  const attachOptions = { ...follow, signal: options.signal, logger: options.logger };
  try {
    const result = await executor.run(script, {
      cwd: options.dir,
      env: options.env,
      signal: options.signal,
      encoding: "latin1",
      onStdout: (chunk) => {
        offset += chunk.length;
        const text = decoder.write(Buffer.from(chunk, "latin1"));
        if (text) follow.onOutput(text);
      },
      onStderr: (chunk) => {
        stderr += chunk;
        started ??= parseJobStatus(stderr);
      },
    });
    started = startedStatus(executor, options, result, stderr);
    const statuses = stderr
      .split("\n")
      .map((line) => parseJobStatus(line))
      .filter((s): s is JobStatus => s !== undefined);
    const ended = statuses.length > 1 ? statuses.at(-1) : undefined;
    if (ended && ended.state !== "running") {
      const rest = decoder.end();
      if (rest) follow.onOutput(rest);
      return ended;
    }
  } catch (error) {
    // Before the job reported its start nothing is known about it: the start failed.
    if (!started) throw error;
    if (isAbortError(error)) {
      await stopAfterAbort(executor, options.dir, attachOptions);
      throw error instanceof InterruptedError ? error : new InterruptedError();
    }
    if (!isConnectionLost(error)) throw error;
  }
  // The follow ended without a final status (connection lost, the job's processes vanished):
  // attach from the bytes delivered; that reconnects, or reports the job as lost.
  const rest = decoder.end();
  if (rest) follow.onOutput(rest);
  return (await attachJob(executor, options.dir, { ...attachOptions, offset })).status;
}

/** Ctrl-C while following: stop the job unless only detaching was asked for. */
async function stopAfterAbort(
  executor: Executor,
  dir: string,
  options: Pick<FollowOptions, "stopOnAbort" | "logger">,
): Promise<void> {
  if (!(options.stopOnAbort ?? true)) return;
  options.logger?.info("stopping the job on the host");
  await stopJob(executor, dir, { graceSeconds: 5 }).catch((stopError: unknown) => {
    options.logger?.warn(
      { error: (stopError as Error).message },
      "could not stop the job; stop it with `posefactory stop <runId>`",
    );
  });
}

/** The job's status, or undefined when the run's folder has none. */
export async function getJobStatus(
  executor: Executor,
  dir: string,
  signal?: AbortSignal,
): Promise<JobStatus | undefined> {
  let out = "";
  const result = await executor.run(composeHostScript({ PF_DIR: dir }, "status.sh"), {
    signal,
    onStdout: (chunk) => {
      out += chunk;
    },
  });
  if (result.exitCode === HostExit.noJob) return undefined;
  if (result.exitCode !== 0) {
    throw new UserError(
      `Could not read the job status in ${dir} on ${executor.description}: ${result.stderrTail}`,
    );
  }
  const status = parseJobStatus(out);
  if (!status)
    throw new UserError(
      `Unreadable ${RunFiles.status} in ${dir} on ${executor.description}: ${out.trim()}`,
    );
  if (status.state === "running" && out.includes("alive=0")) {
    return { ...status, state: "failed", lost: true };
  }
  return status;
}

export type StopJobOptions = StopOptions;

/**
 * Stop a running job: TERM its process group, KILL what is left after the grace period,
 * and make sure status.json says `stopped` even when KILL left no wrapper to write it.
 */
export async function stopJob(
  executor: Executor,
  dir: string,
  options: StopOptions = {},
): Promise<JobStatus | undefined> {
  const tenths = Math.round((options.graceSeconds ?? 10) * 10);
  let out = "";
  const result = await executor.run(
    composeHostScript({ PF_DIR: dir, PF_GRACE_TENTHS: tenths }, "stop.sh"),
    {
      onStdout: (chunk) => {
        out += chunk;
      },
    },
  );
  if (result.exitCode === HostExit.noJob) return undefined;
  if (result.exitCode !== 0) {
    throw new UserError(
      `Could not stop the job in ${dir} on ${executor.description}: ${result.stderrTail}`,
    );
  }
  return parseJobStatus(out);
}

/**
 * Stream the job's log until it ends (or once, without follow), reconnecting after a
 * dropped connection and continuing from the last byte delivered.
 */
export async function attachJob(
  executor: Executor,
  dir: string,
  options: FollowOptions,
): Promise<FollowResult> {
  const follow = options.follow ?? true;
  const decoder = new StringDecoder("utf8");
  const reconnectMs = (options.reconnectSeconds ?? 120) * 1000;
  // The end of the job is seen within one poll: each costs the host a few forks, no more.
  const poll = Math.max(0.05, options.pollSeconds ?? 0.1);
  let known = options.status;
  let offset = options.offset ?? 0;
  let lostSince: number | undefined;
  let delay = 250;
  for (;;) {
    try {
      if (options.signal?.aborted) throw new InterruptedError();
      const status = known ?? (await getJobStatus(executor, dir, options.signal));
      known = undefined;
      if (!status) {
        throw new UserError(
          `No job in ${dir} on ${executor.description}: check the run id (\`posefactory status <runId>\`).`,
        );
      }
      const live = follow && status.state === "running";
      const script = composeHostScript(
        { PF_DIR: dir, PF_OFFSET: offset, PF_FOLLOW: live ? 1 : 0, PF_POLL: poll },
        "follow.sh",
      );
      const result = await executor.run(script, {
        encoding: "latin1",
        signal: options.signal,
        onStdout: (chunk) => {
          offset += chunk.length;
          const text = decoder.write(Buffer.from(chunk, "latin1"));
          if (text) options.onOutput(text);
        },
      });
      if (result.exitCode !== 0) {
        throw new UserError(
          `Could not read ${RunFiles.log} in ${dir} on ${executor.description}: ${result.stderrTail}`,
        );
      }
      if (lostSince !== undefined) {
        options.logger?.info("reconnected; log continues");
        lostSince = undefined;
        delay = 250;
      }
      // A follow that saw the job end printed its final status on stderr.
      const ended = live ? parseJobStatus(result.stderrTail) : undefined;
      if (!live || (ended && ended.state !== "running")) {
        const rest = decoder.end();
        if (rest) options.onOutput(rest);
        return { status: ended ?? status, offset };
      }
      // The follow script returned without a final status (the job's processes vanished):
      // loop once more, and getJobStatus reports it as lost.
    } catch (error) {
      if (isConnectionLost(error)) {
        lostSince ??= Date.now();
        if (Date.now() - lostSince > reconnectMs) {
          throw new UserError(
            `Lost the connection to ${executor.description} and could not reconnect within ${Math.round(reconnectMs / 1000)} s. ` +
              "The job keeps running on the host: attach again with `posefactory logs <runId> -f`.",
            { cause: error },
          );
        }
        options.logger?.warn(
          `connection to ${executor.description} lost; reconnecting (the job keeps running on the host)`,
        );
        await sleep(delay * (0.5 + Math.random()), options.signal);
        delay = Math.min(delay * 2, 5000);
        continue;
      }
      if (lostSince !== undefined && error instanceof UserError) {
        // Reconnecting gave up (the executor's own bounded retry): the job is still there.
        throw new UserError(
          `${error.message}\nThe job keeps running on the host: attach again with \`posefactory logs <runId> -f\`.`,
          { cause: error },
        );
      }
      if (isAbortError(error)) {
        await stopAfterAbort(executor, dir, options);
        throw error instanceof InterruptedError ? error : new InterruptedError();
      }
      throw error;
    }
  }
}

/** The detached runner for one target: run folders under `<workdir>/runs/`. */
export function createDetachedRunner(executor: Executor, workdir: string): JobRunner {
  const runDir = (runId: string) => hostRunDir(workdir, runId);
  const start = (job: HostJob, options: StartOptions = {}) =>
    startJob(executor, {
      dir: runDir(job.runId),
      script: job.script,
      files: job.files,
      env: job.env,
      logger: options.logger,
      signal: options.signal,
      follow: options.follow,
    });
  return {
    kind: "detached",
    description: executor.description,
    runDir,
    start,
    // The folder keeps what the earlier attempt made; the job's steps say what runs again.
    resume: start,
    status: (runId, signal) => getJobStatus(executor, runDir(runId), signal),
    follow: (runId, options) => attachJob(executor, runDir(runId), options),
    stop: (runId, options) => stopJob(executor, runDir(runId), options),
    async readLog(runId) {
      const data = await executor
        .readFile(posix.join(runDir(runId), RunFiles.log))
        .catch(() => undefined);
      return data?.toString("utf8");
    },
  };
}
