/**
 * The JobRunner contract: how one run's host work (blender/host/job.sh) is started, watched,
 * followed, stopped and resumed. The pipeline and the job commands talk to a JobRunner, never
 * to a specific engine. `detached` (./detached.ts) runs the job in its own session on one
 * host over any Executor; a `slurm` runner submits the same job.sh to a cluster.
 */
import type { Logger } from "../log.js";
import type { JobStatus } from "../run/status.js";

export type { JobState, JobStatus } from "../run/status.js";

/** One run's host work. */
export interface HostJob {
  runId: string;
  /** job.sh: the bash script the job runs, in the run's folder on the host. */
  script: string;
  /** Written into the run's folder before the job starts: plain file name -> text (no secrets). */
  files?: Record<string, string>;
  /** Exported for the job; inherited, never written to disk or put on a command line. */
  env?: Record<string, string>;
}

export interface StartOptions {
  logger?: Logger;
  signal?: AbortSignal;
  /**
   * Stream the job's log from its first byte until it ends, in the same round trip as the
   * start where the runner can: start() then returns the job's final status.
   */
  follow?: Omit<FollowOptions, "offset" | "follow" | "status" | "signal" | "logger">;
}

export interface FollowOptions {
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
  /** Seconds between polls of the log on the host (default 0.1). */
  pollSeconds?: number;
  /** The job's status as the caller just read it (start's answer): saves the first round trip. */
  status?: JobStatus;
}

export interface FollowResult {
  status: JobStatus;
  /** Bytes of job.log delivered; pass it back as `offset` to continue later. */
  offset: number;
}

export interface StopOptions {
  /** Seconds between TERM and KILL. */
  graceSeconds?: number;
}

export interface JobRunner {
  readonly kind: "detached" | "slurm";
  /** Where the jobs run, for messages (e.g. `root@pod:22`). */
  readonly description: string;
  /** The run's folder on the host, where job.sh runs and its outputs land. */
  runDir(runId: string): string;
  /** Start the run's job; refuses (exit 17 on the host) while the same run is running. */
  start(job: HostJob, options?: StartOptions): Promise<JobStatus>;
  /**
   * Start the run's job again in the same folder for what is still missing (the job's
   * PF_STEPS say which steps): what the earlier attempt left there is kept.
   */
  resume(job: HostJob, options?: StartOptions): Promise<JobStatus>;
  /** The job's status, or undefined when the run has none on this target. */
  status(runId: string, signal?: AbortSignal): Promise<JobStatus | undefined>;
  /** Stream the job's log (until it ends, unless follow is false). */
  follow(runId: string, options: FollowOptions): Promise<FollowResult>;
  /** Stop the job; undefined when there is none. */
  stop(runId: string, options?: StopOptions): Promise<JobStatus | undefined>;
  /** The job's log as it is now (job.log), or undefined. */
  readLog(runId: string): Promise<string | undefined>;
}
