/**
 * sbatch's command line, built from explicit flags only (no `#SBATCH` lines to guess from).
 * Nothing secret ever goes here: slurmctld stores a job's command line and environment in
 * its state directory, so the storage keys reach the tasks through a 0600 file instead.
 */

export interface SbatchRequest {
  /** `pf-<runId>`. */
  jobName: string;
  /** `--array=` value (see planArrayChunks); absent for a plain job. */
  array?: string;
  /** The batch script's path on the cluster (shared filesystem) and its arguments... */
  script?: string;
  /** ...or a one-line command (`--wrap`) instead of a script. */
  wrap?: string;
  scriptArgs?: string[];
  /** Working directory of every task. */
  chdir: string;
  /** Slurm's own stdout/stderr per task (`%A_%a` patterns allowed). */
  output: string;
  partition?: string;
  account?: string;
  qos?: string;
  /** GPUs per task as GRES (`--gres=gpu:N`); 0 or undefined asks for none. */
  gpusPerTask?: number;
  cpusPerTask?: number;
  /** `--mem`, e.g. `16G`. */
  memPerTask?: string;
  /** `--time`, e.g. `02:00:00` or minutes. */
  timeLimit?: string;
  /** Seconds before the time limit when the batch shell gets USR1 (`--signal=B:USR1@N`). */
  signalLeadSeconds?: number;
  /** `--dependency=`, e.g. `afterany:12:13`. */
  dependency?: string;
  /** Extra arguments from the target's sbatchArgs, passed as given (before the script). */
  extraArgs?: string[];
}

export function buildSbatchArgs(r: SbatchRequest): string[] {
  const args = [
    "--parsable",
    `--job-name=${r.jobName}`,
    ...(r.array ? [`--array=${r.array}`] : []),
    `--chdir=${r.chdir}`,
    `--output=${r.output}`,
    `--error=${r.output}`,
    // The tasks get no copy of the submitter's environment (it can hold secrets).
    "--export=NONE",
    "--no-requeue",
  ];
  if (r.partition) args.push(`--partition=${r.partition}`);
  if (r.account) args.push(`--account=${r.account}`);
  if (r.qos) args.push(`--qos=${r.qos}`);
  if (r.gpusPerTask && r.gpusPerTask > 0) args.push(`--gres=gpu:${r.gpusPerTask}`);
  if (r.cpusPerTask) args.push(`--cpus-per-task=${r.cpusPerTask}`);
  if (r.memPerTask) args.push(`--mem=${r.memPerTask}`);
  if (r.timeLimit) args.push(`--time=${r.timeLimit}`);
  if (r.signalLeadSeconds && r.signalLeadSeconds > 0)
    args.push(`--signal=B:USR1@${Math.round(r.signalLeadSeconds)}`);
  if (r.dependency) args.push(`--dependency=${r.dependency}`);
  args.push(...(r.extraArgs ?? []));
  if (r.wrap !== undefined) args.push(`--wrap=${r.wrap}`);
  else if (r.script) args.push(r.script, ...(r.scriptArgs ?? []));
  else throw new Error("sbatch needs a script or a wrap command");
  return args;
}

/**
 * Slurm time formats: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S` -> seconds
 * (undefined for an unparsable value; sbatch itself is the judge then).
 */
export function parseTimeLimit(text: string): number | undefined {
  const t = text.trim();
  let m = /^(\d+)-(\d+)(?::(\d+)(?::(\d+))?)?$/.exec(t);
  if (m)
    return Number(m[1]) * 86400 + Number(m[2]) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0);
  m = /^(\d+)(?::(\d+)(?::(\d+))?)?$/.exec(t);
  if (!m) return undefined;
  if (m[3] !== undefined) return Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
  if (m[2] !== undefined) return Number(m[1]) * 60 + Number(m[2]);
  return Number(m[1]) * 60;
}

/**
 * How long before the limit a task is told to push what it has: 2 minutes, less for short
 * limits (Slurm may send the signal up to a minute early, so keep it within the limit).
 */
export function signalLeadFor(timeLimit: string | undefined): number | undefined {
  if (!timeLimit) return undefined;
  const seconds = parseTimeLimit(timeLimit);
  if (seconds === undefined) return 120;
  return Math.max(10, Math.min(120, Math.floor(seconds / 4)));
}
