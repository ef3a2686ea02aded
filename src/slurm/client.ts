/**
 * The Slurm commands posefactory runs, over any Executor: locally on a login node, or over
 * ssh to one. Each call is one bash script (one round trip); outputs are parsed in parse.ts.
 */
import { UserError } from "../errors.js";
import { buildCommand } from "../remote/shell.js";
import type { Executor } from "../remote/types.js";
import {
  type ClusterInfo,
  parseClusterConfig,
  parseSacct,
  parseScontrolJobs,
  parseSqueue,
  SACCT_FORMAT,
  SQUEUE_FORMAT,
  type TaskRow,
} from "./parse.js";
import { buildSbatchArgs, type SbatchRequest } from "./sbatch.js";

async function capture(
  executor: Executor,
  script: string,
  signal?: AbortSignal,
): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  const result = await executor.run(script, {
    signal,
    onStdout: (chunk) => {
      out += chunk;
    },
  });
  return { code: result.exitCode, out, err: result.stderrTail };
}

function notFound(executor: Executor, err: string): UserError {
  return new UserError(
    `Slurm's commands are not available on ${executor.description} (${err.trim() || "command not found"}): run posefactory on a login node, or give the target \`ssh:\` to reach one.`,
  );
}

/** MaxArraySize, whether accounting (sacct) works, MinJobAge: from `scontrol show config`. */
export async function readClusterInfo(
  executor: Executor,
  signal?: AbortSignal,
): Promise<ClusterInfo> {
  const r = await capture(executor, "scontrol show config\n", signal);
  if (r.code === 127) throw notFound(executor, r.err);
  if (r.code !== 0) {
    throw new UserError(
      `\`scontrol show config\` failed on ${executor.description} (exit ${r.code}): ${r.err.trim()}`,
    );
  }
  return parseClusterConfig(r.out);
}

/** Submit one array job; returns its job id. */
export async function submitArray(
  executor: Executor,
  request: SbatchRequest,
  signal?: AbortSignal,
): Promise<string> {
  const r = await capture(executor, `sbatch ${buildCommand(buildSbatchArgs(request))}\n`, signal);
  if (r.code === 127) throw notFound(executor, r.err);
  // --parsable prints `<jobid>` or `<jobid>;<cluster>`.
  const id = /^(\d+)(?:;\S+)?$/m.exec(r.out.trim())?.[1];
  if (r.code !== 0 || !id) {
    throw new UserError(
      `sbatch refused the job on ${executor.description} (exit ${r.code}): ${r.err.trim() || r.out.trim()}. ` +
        "Check the target's partition, account, qos, timeLimit and sbatchArgs.",
    );
  }
  return id;
}

export interface QueryOptions {
  /** Ask sacct too (only when the cluster has accounting). */
  accounting: boolean;
  signal?: AbortSignal;
}

/**
 * Every task of these array jobs that Slurm still knows. squeue (and scontrol, for exit
 * codes) while tasks are within MinJobAge; sacct for the ones that have left them. A task
 * neither knows (aged out without accounting, or sacct lagging) is simply absent.
 */
export async function queryTasks(
  executor: Executor,
  jobIds: readonly string[],
  options: QueryOptions,
): Promise<TaskRow[]> {
  if (jobIds.length === 0) return [];
  const ids = jobIds.join(",");
  const script = [
    "echo '#squeue'",
    `squeue -h -r --states=all -j ${ids} -o ${buildCommand([SQUEUE_FORMAT])} 2>/dev/null`,
    "echo '#scontrol'",
    ...jobIds.map((id) => `scontrol -o show job ${id} 2>/dev/null`),
    ...(options.accounting
      ? ["echo '#sacct'", `sacct -X -P -n -j ${ids} --format=${SACCT_FORMAT} 2>/dev/null`]
      : []),
    "exit 0",
    "",
  ].join("\n");
  const r = await capture(executor, script, options.signal);
  if (r.code !== 0) {
    throw new UserError(
      `Could not ask Slurm about jobs ${ids} on ${executor.description}: ${r.err}`,
    );
  }
  const section = (name: string): string => {
    const start = r.out.indexOf(`#${name}\n`);
    if (start < 0) return "";
    const rest = r.out.slice(start + name.length + 2);
    const next = rest.search(/^#(squeue|scontrol|sacct)$/m);
    return next < 0 ? rest : rest.slice(0, next);
  };
  return mergeTaskRows(
    parseSqueue(section("squeue")),
    parseScontrolJobs(section("scontrol")),
    parseSacct(section("sacct")),
  );
}

const key = (row: TaskRow): string => `${row.jobId}_${row.taskId}`;

/**
 * squeue is the live view; scontrol adds exit codes for the same tasks; sacct fills in the
 * tasks the controller has forgotten (and its exit code where the others have none).
 */
export function mergeTaskRows(squeue: TaskRow[], scontrol: TaskRow[], sacct: TaskRow[]): TaskRow[] {
  const rows = new Map<string, TaskRow>();
  for (const row of squeue) rows.set(key(row), row);
  for (const row of scontrol) {
    const live = rows.get(key(row));
    if (live) {
      live.exitCode ??= row.exitCode;
      live.exitSignal ??= row.exitSignal;
    } else rows.set(key(row), row);
  }
  for (const row of sacct) {
    const live = rows.get(key(row));
    if (!live) rows.set(key(row), row);
    else if (live.exitCode === null) {
      live.exitCode = row.exitCode;
      live.exitSignal = row.exitSignal;
    }
  }
  return [...rows.values()].sort((a, b) =>
    a.jobId === b.jobId ? a.taskId - b.taskId : Number(a.jobId) - Number(b.jobId),
  );
}

/**
 * scancel every task of these jobs (pending ones included) and, with `name`, every job of
 * that name (one sbatch interrupted after slurmctld took it has no id on record); quiet about
 * jobs already gone.
 */
export async function cancelJobs(
  executor: Executor,
  jobIds: readonly string[],
  options: { name?: string; signal?: AbortSignal } = {},
): Promise<void> {
  const lines = [
    ...(jobIds.length > 0 ? [`scancel --quiet ${buildCommand([...jobIds])}`] : []),
    ...(options.name ? [`scancel --quiet ${buildCommand([`--name=${options.name}`])}`] : []),
  ];
  if (lines.length === 0) return;
  const r = await capture(executor, `${lines.join(" && ")}\n`, options.signal);
  if (r.code === 127) throw notFound(executor, r.err);
  if (r.code !== 0) {
    throw new UserError(
      `scancel ${jobIds.join(" ")} failed on ${executor.description}: ${r.err.trim()}`,
    );
  }
}

/** Array jobs (ids) named `name` that still have tasks pending or running. */
export async function findLiveJobs(
  executor: Executor,
  name: string,
  signal?: AbortSignal,
): Promise<string[]> {
  const r = await capture(
    executor,
    `squeue -h -r --name=${buildCommand([name])} -t PENDING,RUNNING,CONFIGURING,COMPLETING,SUSPENDED -o %F\n`,
    signal,
  );
  if (r.code !== 0) return [];
  return [
    ...new Set(
      r.out
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => /^\d+$/.test(l)),
    ),
  ];
}
