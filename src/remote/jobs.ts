/**
 * Detached jobs: long remote work (the render) runs on the host in its own session, with
 * its output in `job.log` and its state in `status.json` inside the run's folder, so it
 * survives the laptop going to sleep or the connection dropping. Works over any Executor
 * (local or ssh): everything here is a bash script.
 *
 * The job's environment (for example rclone's credentials) is exported by the script that
 * starts it and inherited by the job: it never lands on the host's disk or a command line.
 *
 * Attaching streams the log from a byte offset; output is read as latin1 (one character per
 * byte) so the offset stays exact, and after a dropped connection the CLI reconnects and
 * continues from that offset: no gap, no duplicate.
 */
import { randomBytes } from "node:crypto";
import { posix } from "node:path";
import { StringDecoder } from "node:string_decoder";
import type { TargetConfig } from "../config/schema.js";
import { InterruptedError, isAbortError, UsageError, UserError } from "../errors.js";
import type { Logger } from "../log.js";
import { sleep } from "../sleep.js";
import { isConnectionLost } from "./connection.js";
import { GROUP_FUNCTIONS, quoteShell } from "./shell.js";
import type { Executor } from "./types.js";

export type JobState = "running" | "done" | "failed" | "stopped";

export interface JobStatus {
  state: JobState;
  exitCode: number | null;
  startedAt: string;
  endedAt: string | null;
  seconds: number | null;
  pid: number;
  pgid: number;
  /** True when status.json said running but no process of the job is left (host rebooted, killed). */
  lost?: boolean;
}

export const JOB_LOG = "job.log";
export const JOB_STATUS = "status.json";

/** `<target.workdir>/runs/<runId>`: the run's folder on the host. */
export function resolveJobDir(target: TargetConfig, runId: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(runId)) {
    throw new UsageError(`Invalid run id \`${runId}\`: use letters, digits, '.', '_' and '-'.`);
  }
  return posix.join(target.workdir, "runs", runId);
}

/** Shell helpers for status.json; its format is fixed (no spaces) so sed can read fields back. */
const STATUS_FUNCTIONS = `${GROUP_FUNCTIONS}pf_now_ms() {
  local t
  t=$(date +%s%3N 2>/dev/null)
  case "$t" in *N*|'') t=$(( $(date +%s) * 1000 ));; esac
  printf '%s' "$t"
}
pf_iso() { date -u +%Y-%m-%dT%H:%M:%SZ; }
pf_field() {
  sed -E -n 's/.*"'"$1"'":("[^"]*"|[0-9.]*|null).*/\\1/p' ${JOB_STATUS} 2>/dev/null | tr -d '"'
}
pf_write_status() {
  local ended=null exit=null seconds=null ended_ms=null
  if [ "$1" != running ]; then
    ended="\\"$PF_ENDED\\""; exit="$2"; ended_ms="$PF_ENDED_MS"
    local d=$(( PF_ENDED_MS - PF_STARTED_MS ))
    seconds=$(printf '%d.%03d' $(( d / 1000 )) $(( d % 1000 )))
  fi
  printf '{"state":"%s","exitCode":%s,"startedAt":"%s","endedAt":%s,"seconds":%s,"pid":%s,"pgid":%s,"startedAtMs":%s,"endedAtMs":%s}\\n' \\
    "$1" "$exit" "$PF_STARTED" "$ended" "$seconds" "$PF_PGID" "$PF_PGID" "$PF_STARTED_MS" "$ended_ms" > ${JOB_STATUS}.tmp
  mv -f ${JOB_STATUS}.tmp ${JOB_STATUS}
}
`;

/** Runs as the session leader of the job: records the status around the user's script. */
const WRAPPER = `${STATUS_FUNCTIONS}PF_PGID=$$
PF_STARTED_MS=$(pf_now_ms)
PF_STARTED=$(pf_iso)
pf_write_status running
# A TERM for the group reaches the job too; bash runs this trap once the job has ended.
trap 'pf_signalled=1' TERM INT HUP
bash --noprofile --norc ./job.sh
code=$?
PF_ENDED_MS=$(pf_now_ms)
PF_ENDED=$(pf_iso)
if [ -e stop-requested ]; then state=stopped
elif [ "$code" -eq 0 ]; then state=done
else state=failed
fi
pf_write_status "$state" "$code"
`;

function heredoc(name: string, content: string): string {
  const tag = `PF_EOF_${randomBytes(8).toString("hex")}`;
  const body = content.endsWith("\n") ? content : `${content}\n`;
  return `cat > ${name} <<'${tag}'\n${body}${tag}\n`;
}

export interface StartJobOptions {
  /** The job's folder on the host (resolveJobDir). */
  dir: string;
  /** bash script the job runs (in `dir`). */
  script: string;
  /** Exported for the job; inherited, never written to disk. */
  env?: Record<string, string>;
  logger?: Logger;
  signal?: AbortSignal;
}

/** Start the job detached and return its first status. Refuses while the same run is running. */
export async function startJob(executor: Executor, options: StartJobOptions): Promise<JobStatus> {
  const starter = `${STATUS_FUNCTIONS}
if [ "$(pf_field state)" = running ]; then
  PF_PGID=$(pf_field pgid)
  if [ -n "$PF_PGID" ] && pf_group_alive; then
    echo "a job is already running in $(pwd) (process group $PF_PGID)" >&2
    exit 17
  fi
fi
${heredoc("job.sh", options.script)}${heredoc(".job-wrapper.sh", WRAPPER)}rm -f ${JOB_STATUS} stop-requested
: > ${JOB_LOG}
if command -v setsid >/dev/null 2>&1; then
  setsid bash --noprofile --norc ./.job-wrapper.sh < /dev/null >> ${JOB_LOG} 2>&1 &
else
  perl -MPOSIX -e 'POSIX::setsid(); exec @ARGV' bash --noprofile --norc ./.job-wrapper.sh < /dev/null >> ${JOB_LOG} 2>&1 &
fi
i=0
while [ ! -f ${JOB_STATUS} ] && [ "$i" -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
cat ${JOB_STATUS}
`;
  let out = "";
  const result = await executor.run(starter, {
    cwd: options.dir,
    env: options.env,
    signal: options.signal,
    onStdout: (chunk) => {
      out += chunk;
    },
  });
  if (result.exitCode === 17) {
    throw new UserError(
      `${result.stderrTail} on ${executor.description}: attach with \`posefactory logs <runId> -f\` or stop it with \`posefactory stop <runId>\`.`,
    );
  }
  if (result.exitCode !== 0) {
    throw new UserError(
      `Could not start the job in ${options.dir} on ${executor.description} (exit ${result.exitCode}): ${result.stderrTail}`,
    );
  }
  const status = parseStatus(out);
  if (!status)
    throw new UserError(`The job in ${options.dir} did not report its status: ${out.trim()}`);
  options.logger?.debug({ dir: options.dir, pgid: status.pgid }, "job started");
  return status;
}

function parseStatus(text: string): JobStatus | undefined {
  const line = text.split("\n").find((l) => l.startsWith("{"));
  if (!line) return undefined;
  try {
    const raw = JSON.parse(line) as JobStatus & { startedAtMs?: number; endedAtMs?: number };
    const { startedAtMs: _s, endedAtMs: _e, ...status } = raw;
    return status;
  } catch {
    return undefined;
  }
}

/** The job's status, or undefined when the run's folder has none. */
export async function getJobStatus(
  executor: Executor,
  dir: string,
  signal?: AbortSignal,
): Promise<JobStatus | undefined> {
  // Check the group before reading the final status: a job that ends in between is then
  // seen as ended, never as lost.
  const script = `${STATUS_FUNCTIONS}cd -- ${quoteShell(dir)} 2>/dev/null && [ -f ${JOB_STATUS} ] || exit 44
PF_PGID=$(pf_field pgid)
if [ -n "$PF_PGID" ] && pf_group_alive; then alive=1; else alive=0; fi
cat ${JOB_STATUS}
echo "alive=$alive"
`;
  let out = "";
  const result = await executor.run(script, {
    signal,
    onStdout: (chunk) => {
      out += chunk;
    },
  });
  if (result.exitCode === 44) return undefined;
  if (result.exitCode !== 0) {
    throw new UserError(
      `Could not read the job status in ${dir} on ${executor.description}: ${result.stderrTail}`,
    );
  }
  const status = parseStatus(out);
  if (!status)
    throw new UserError(
      `Unreadable ${JOB_STATUS} in ${dir} on ${executor.description}: ${out.trim()}`,
    );
  if (status.state === "running" && out.includes("alive=0")) {
    return { ...status, state: "failed", lost: true };
  }
  return status;
}

export interface StopJobOptions {
  /** Seconds between TERM and KILL. */
  graceSeconds?: number;
}

/**
 * Stop a running job: TERM its process group, KILL what is left after the grace period,
 * and make sure status.json says `stopped` even when KILL left no wrapper to write it.
 */
export async function stopJob(
  executor: Executor,
  dir: string,
  options: StopJobOptions = {},
): Promise<JobStatus | undefined> {
  const tenths = Math.round((options.graceSeconds ?? 10) * 10);
  const script = `${STATUS_FUNCTIONS}cd -- ${quoteShell(dir)} 2>/dev/null && [ -f ${JOB_STATUS} ] || exit 44
if [ "$(pf_field state)" = running ]; then
  PF_PGID=$(pf_field pgid)
  PF_GRACE_TENTHS=${tenths}
  : > stop-requested
  if [ -n "$PF_PGID" ] && [ "$PF_PGID" -gt 1 ]; then pf_stop_group; fi
  # The wrapper is in the group: once the group is gone it has written its status, or was KILLed.
  if [ "$(pf_field state)" = running ]; then
    PF_STARTED=$(pf_field startedAt)
    PF_STARTED_MS=$(pf_field startedAtMs)
    PF_ENDED_MS=$(pf_now_ms)
    PF_ENDED=$(pf_iso)
    pf_write_status stopped 137
  fi
fi
cat ${JOB_STATUS}
`;
  let out = "";
  const result = await executor.run(script, {
    onStdout: (chunk) => {
      out += chunk;
    },
  });
  if (result.exitCode === 44) return undefined;
  if (result.exitCode !== 0) {
    throw new UserError(
      `Could not stop the job in ${dir} on ${executor.description}: ${result.stderrTail}`,
    );
  }
  return parseStatus(out);
}

export interface AttachOptions {
  /** Receives the log as text, in order, exactly once. */
  onOutput: (text: string) => void;
  /** Byte offset in job.log to start from (0: the whole log). */
  offset?: number;
  /** Keep streaming until the job ends (default true); false prints what is there and returns. */
  follow?: boolean;
  /** Ctrl-C: stop the job (default true) or only detach (false), then InterruptedError. */
  stopOnAbort?: boolean;
  signal?: AbortSignal;
  logger?: Logger;
  /** How long to keep trying to reconnect after a dropped connection. */
  reconnectSeconds?: number;
  /** Seconds between polls of the log on the host. */
  pollSeconds?: number;
}

export interface AttachResult {
  status: JobStatus;
  /** Bytes of job.log delivered; pass it back as `offset` to continue later. */
  offset: number;
}

/**
 * Stream the job's log until it ends (or once, without follow), reconnecting after a
 * dropped connection and continuing from the last byte delivered.
 */
export async function attachJob(
  executor: Executor,
  dir: string,
  options: AttachOptions,
): Promise<AttachResult> {
  const follow = options.follow ?? true;
  const decoder = new StringDecoder("utf8");
  const reconnectMs = (options.reconnectSeconds ?? 120) * 1000;
  const poll = Math.max(0.05, options.pollSeconds ?? 0.2);
  let offset = options.offset ?? 0;
  let lostSince: number | undefined;
  let delay = 250;
  for (;;) {
    try {
      if (options.signal?.aborted) throw new InterruptedError();
      const status = await getJobStatus(executor, dir, options.signal);
      if (!status) {
        throw new UserError(
          `No job in ${dir} on ${executor.description}: check the run id (\`posefactory status <runId>\`).`,
        );
      }
      const live = follow && status.state === "running";
      const result = await executor.run(buildLogScript(dir, offset, live, poll), {
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
          `Could not read ${JOB_LOG} in ${dir} on ${executor.description}: ${result.stderrTail}`,
        );
      }
      if (lostSince !== undefined) {
        options.logger?.info("reconnected; log continues");
        lostSince = undefined;
        delay = 250;
      }
      // A follow that saw the job end printed its final status on stderr.
      const ended = live ? parseStatus(result.stderrTail) : undefined;
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
        if (options.stopOnAbort ?? true) {
          options.logger?.info("stopping the job on the host");
          await stopJob(executor, dir, { graceSeconds: 5 }).catch((stopError: unknown) => {
            options.logger?.warn(
              { error: (stopError as Error).message },
              "could not stop the job; stop it with `posefactory stop <runId>`",
            );
          });
        }
        throw error instanceof InterruptedError ? error : new InterruptedError();
      }
      throw error;
    }
  }
}

/**
 * Print job.log from `offset`; when following, poll until status.json leaves `running`
 * (or the job's process group is gone), then print the rest. `tail | head -c` prints exactly
 * the bytes that existed when the size was read, so a growing file is never cut mid-count.
 */
function buildLogScript(dir: string, offset: number, follow: boolean, pollSeconds: number): string {
  const flush = `pf_flush() {
  local size
  size=$(wc -c < ${JOB_LOG} | tr -d ' ')
  if [ "$size" -gt "$off" ]; then
    tail -c +$((off + 1)) ${JOB_LOG} | head -c $((size - off))
    off=$size
  fi
}
`;
  const head = `${STATUS_FUNCTIONS}cd -- ${quoteShell(dir)} || exit 1
[ -f ${JOB_LOG} ] || exit 0
off=${offset}
${flush}`;
  if (!follow) return `${head}pf_flush\n`;
  return `${head}PF_PGID=$(pf_field pgid)
n=0
while :; do
  pf_flush
  read -r line < ${JOB_STATUS} || line=
  # Ended: the last bytes, then the final status on stderr (saves the caller two round trips).
  case "$line" in *'"state":"running"'*) ;; *) pf_flush; cat ${JOB_STATUS} >&2; exit 0;; esac
  n=$((n + 1))
  if [ $((n % 25)) -eq 0 ] && ! pf_group_alive; then pf_flush; exit 0; fi
  sleep ${pollSeconds}
done
`;
}
