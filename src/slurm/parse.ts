/**
 * Slurm's text output, read with explicit fields: `scontrol show config`, `squeue -h -r -o`,
 * `sacct -X -P -n --format`, `scontrol -o show job`. Never the JSON output: on 22.05 it
 * reports wrong exit codes and its schema changes between versions.
 */
import { parseIndexList } from "./arrays.js";

export interface ClusterInfo {
  /** Array indexes must stay below this. */
  maxArraySize: number;
  /** slurmdbd accounting: sacct answers; otherwise only squeue (within MinJobAge). */
  accounting: boolean;
  /** Seconds a finished job stays in slurmctld (squeue, scontrol). */
  minJobAgeSeconds: number;
  version: string;
}

/** `scontrol show config`: `Name = value` lines. */
export function parseClusterConfig(text: string): ClusterInfo {
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^(\S+)\s+=\s+(.*)$/.exec(line.trim());
    if (m?.[1] && m[2] !== undefined) fields.set(m[1], m[2].trim());
  }
  const maxArraySize = Number(fields.get("MaxArraySize"));
  if (!Number.isInteger(maxArraySize) || maxArraySize < 1) {
    throw new Error("`scontrol show config` has no MaxArraySize: is this Slurm?");
  }
  const storage = fields.get("AccountingStorageType") ?? "";
  return {
    maxArraySize,
    accounting: storage.includes("slurmdbd"),
    minJobAgeSeconds: Number.parseInt(fields.get("MinJobAge") ?? "300", 10),
    version: fields.get("SLURM_VERSION") ?? "unknown",
  };
}

/** One array task as Slurm sees it. `taskId` is the index within its array job. */
export interface TaskRow {
  jobId: string;
  taskId: number;
  /** First word of the state, upper case (`CANCELLED by 0` -> `CANCELLED`). */
  state: string;
  exitCode: number | null;
  /** Signal that ended the task (from `N:S`), 0 when none. */
  exitSignal: number | null;
  node: string | null;
  seconds: number | null;
  reason: string | null;
}

export const SQUEUE_FORMAT = "%F|%K|%T|%N|%M|%r";
export const SACCT_FORMAT = "JobID,State,ExitCode,NodeList,ElapsedRaw";

function normalizeState(state: string): string {
  return (state.trim().split(/\s+/)[0] ?? "").toUpperCase();
}

/** `[days-]hours:minutes:seconds`, `minutes:seconds`, or `INVALID`/`N/A`. */
export function parseSlurmDuration(text: string): number | null {
  const m = /^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)$/.exec(text.trim());
  if (!m) return null;
  const [, d, h, min, s] = m;
  return Number(d ?? 0) * 86400 + Number(h ?? 0) * 3600 + Number(min) * 60 + Number(s);
}

/** `3:0` -> {code 3, signal 0}. */
function parseExitCode(text: string | undefined): { code: number | null; signal: number | null } {
  const m = /^(\d+):(\d+)$/.exec((text ?? "").trim());
  if (!m) return { code: null, signal: null };
  return { code: Number(m[1]), signal: Number(m[2]) };
}

function nodeOf(text: string | undefined): string | null {
  const node = (text ?? "").trim();
  if (node === "" || node === "(null)" || node === "None assigned") return null;
  return node;
}

/** `squeue -h -r --states=all -o '%F|%K|%T|%N|%M|%r'` (one line per task; no exit codes). */
export function parseSqueue(text: string): TaskRow[] {
  const rows: TaskRow[] = [];
  for (const line of text.split("\n")) {
    const f = line.split("|");
    if (f.length < 6) continue;
    const [jobId, task, state, node, time, reason] = f;
    if (!jobId || !task || !/^\d+$/.test(task.trim())) continue;
    rows.push({
      jobId: jobId.trim(),
      taskId: Number(task),
      state: normalizeState(state ?? ""),
      exitCode: null,
      exitSignal: null,
      node: nodeOf(node),
      seconds: parseSlurmDuration(time ?? ""),
      reason: reason?.trim() && reason.trim() !== "None" ? reason.trim() : null,
    });
  }
  return rows;
}

/**
 * `sacct -X -P -n --format=JobID,State,ExitCode,NodeList,ElapsedRaw`. Pending tasks that
 * have not started come as one row `123_[4-7%2]`: expanded here into one row per task.
 */
export function parseSacct(text: string): TaskRow[] {
  const rows: TaskRow[] = [];
  for (const line of text.split("\n")) {
    const f = line.split("|");
    if (f.length < 5) continue;
    const [id, state, exit, node, elapsed] = f;
    const m = /^(\d+)_(\d+|\[[^\]]+\])$/.exec((id ?? "").trim());
    if (!m?.[1] || !m[2]) continue;
    const tasks = m[2].startsWith("[") ? parseIndexList(m[2].slice(1, -1)) : [Number(m[2])];
    const { code, signal } = parseExitCode(exit);
    const seconds = Number.parseInt(elapsed ?? "", 10);
    for (const taskId of tasks) {
      rows.push({
        jobId: m[1],
        taskId,
        state: normalizeState(state ?? ""),
        exitCode: code,
        exitSignal: signal,
        node: nodeOf(node),
        seconds: Number.isFinite(seconds) ? seconds : null,
        reason: null,
      });
    }
  }
  return rows;
}

/**
 * `scontrol -o show job <id>`: one line per task (pending ones folded into `ArrayTaskId=4-7%2`);
 * used for exit codes when there is no accounting (squeue has none).
 */
export function parseScontrolJobs(text: string): TaskRow[] {
  const rows: TaskRow[] = [];
  for (const line of text.split("\n")) {
    const fields = new Map<string, string>();
    for (const word of line.trim().split(/\s+/)) {
      const eq = word.indexOf("=");
      if (eq > 0 && !fields.has(word.slice(0, eq)))
        fields.set(word.slice(0, eq), word.slice(eq + 1));
    }
    const jobId = fields.get("ArrayJobId");
    const taskSpec = fields.get("ArrayTaskId");
    if (!jobId || !taskSpec) continue;
    const { code, signal } = parseExitCode(fields.get("ExitCode"));
    // NodeList appears more than once (ReqNodeList, ExcNodeList come first as their own keys).
    const node = /(?:^|\s)NodeList=(\S*)/.exec(line)?.[1];
    for (const taskId of parseIndexList(taskSpec)) {
      rows.push({
        jobId,
        taskId,
        state: normalizeState(fields.get("JobState") ?? ""),
        exitCode: code,
        exitSignal: signal,
        node: nodeOf(node),
        seconds: parseSlurmDuration(fields.get("RunTime") ?? ""),
        reason:
          fields.get("Reason") && fields.get("Reason") !== "None"
            ? (fields.get("Reason") ?? null)
            : null,
      });
    }
  }
  return rows;
}

export type TaskPhase = "running" | "done" | "failed";

const RUNNING_STATES = new Set([
  "PENDING",
  "CONFIGURING",
  "RUNNING",
  "COMPLETING",
  // Not named by the mapping but not an end either: the task goes on (or is queued again).
  "REQUEUED",
  "REQUEUE_HOLD",
  "REQUEUE_FED",
  "RESIZING",
  "SIGNALING",
  "STAGE_OUT",
  "SUSPENDED",
  "STOPPED",
]);

/** PENDING/CONFIGURING/RUNNING/COMPLETING -> running; COMPLETED -> done; every other end -> failed. */
export function phaseOf(state: string): TaskPhase {
  const s = normalizeState(state);
  if (RUNNING_STATES.has(s)) return "running";
  if (s === "COMPLETED") return "done";
  return "failed";
}
