/**
 * The `slurm` runner: one run's host work as one sbatch array on a cluster, one task per
 * shard (src/jobs/slurm-shards.ts), each running the same blender/host/job.sh as a single
 * host on its shard, through blender/host/slurm-task.sh. Works over any Executor: local
 * (posefactory on the login node) or ssh to the login node. The run's folder on the shared
 * filesystem holds the scripts, shards/<i>/{job.json,inputs.txt,assets/}, logs/shard-<i>.log and
 * slurm.json (job ids and shards, so `status`, `logs` and `stop` work from anywhere).
 *
 * Storage keys: in .pf-env-<attempt>.sh (0600) in the run's folder, read by the tasks, removed when the
 * run ends or is stopped (by the CLI, and by a small cleanup job that runs after the array
 * even when nobody is attached). Never on sbatch's command line or in its environment:
 * slurmctld stores both in its state directory.
 */
import { posix } from "node:path";
import { z } from "zod";
import type { SlurmTargetConfig } from "../config/schema.js";
import type { Annotations } from "../detect/schema.js";
import { annotationsSchema } from "../detect/schema.js";
import { UserError } from "../errors.js";
import type { Logger } from "../log.js";
import { buildExports, quoteShell } from "../remote/shell.js";
import type { Executor } from "../remote/types.js";
import type { Manifest } from "../render/manifest.js";
import { parseManifestData } from "../run/manifest.js";
import { annotationsPath, RunFiles, runKey } from "../run/paths.js";
import { sleep } from "../sleep.js";
import {
  type ClusterInfo,
  cancelJobs,
  findLiveJobs,
  phaseOf,
  planArrayChunks,
  queryTasks,
  signalLeadFor,
  submitArray,
  type TaskRow,
} from "../slurm/index.js";
import type { Storage } from "../storage/types.js";
import { readHostScript } from "./host-scripts.js";
import { mergeAnnotations, mergeChecksums, mergeManifests } from "./slurm-merge.js";
import type { Shard } from "./slurm-shards.js";

export const SLURM_FILES = {
  task: ".pf-slurm-task.sh",
  /** `.pf-env-<attempt>.sh`: one per submission, so a late cleanup job of an earlier attempt
   * never removes the keys a resubmitted task still needs. */
  envPrefix: ".pf-env-",
  setup: ".pf-setup.sh",
  state: "slurm.json",
} as const;

/** The task script's exit code when it stopped at the time-limit warning (USR1). */
export const TASK_EXIT_TIME_LIMIT = 24;

export const shardRecordSchema = z.object({
  index: z.number().int().nonnegative(),
  units: z.array(z.object({ character: z.string(), clip: z.string().nullable() })),
  weight: z.number(),
  /** pending: not submitted (or waiting in the queue); failed names `slurmState`. */
  state: z.enum(["pending", "running", "done", "failed"]),
  slurmState: z.string().optional(),
  jobId: z.string().optional(),
  taskId: z.number().int().optional(),
  exitCode: z.number().int().nullable().optional(),
  node: z.string().nullable().optional(),
  seconds: z.number().nullable().optional(),
  attempts: z.number().int().default(0),
});

export const slurmRunSchema = z.object({
  jobName: z.string(),
  /** The first array job of the run (what `squeue -j` and `scancel` take). */
  jobId: z.string().optional(),
  /** Every array job submitted for the run: chunks past MaxArraySize, resubmissions. */
  jobIds: z.array(z.string()),
  cleanupJobIds: z.array(z.string()).default([]),
  chunks: z.array(
    z.object({ jobId: z.string(), offset: z.number().int(), shards: z.array(z.number().int()) }),
  ),
  shards: z.array(shardRecordSchema),
});

export type ShardRecord = z.infer<typeof shardRecordSchema>;
export type SlurmRun = z.infer<typeof slurmRunSchema>;

/** A fresh key file name for one submission. */
export function envFileName(): string {
  return `${SLURM_FILES.envPrefix}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}.sh`;
}

export function jobNameOf(runId: string): string {
  return `pf-${runId}`;
}

export function newSlurmRun(runId: string, shards: readonly Shard[]): SlurmRun {
  return {
    jobName: jobNameOf(runId),
    jobIds: [],
    cleanupJobIds: [],
    chunks: [],
    shards: shards.map((s) => ({
      index: s.index,
      units: s.units,
      weight: s.weight,
      state: "pending",
      attempts: 0,
    })),
  };
}

function heredoc(path: string, content: string): string {
  const tag = `PF_EOF_${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
  const body = content.endsWith("\n") ? content : `${content}\n`;
  const dir = posix.dirname(path);
  return `${dir !== "." ? `mkdir -p ${quoteShell(dir)}\n` : ""}cat > ${quoteShell(path)} <<'${tag}'\n${body}${tag}\n`;
}

export interface PrepareOptions {
  runDir: string;
  /** Files relative to the run's folder (no secrets): shards/<i>/job.json and so on. */
  files: Record<string, string>;
  /** Settings and storage keys for the tasks: written to `envFile`, mode 0600. */
  env: Record<string, string>;
  /** The key file's name (envFileName()). */
  envFile: string;
  /** The target's setup lines. */
  setup: readonly string[];
  run: SlurmRun;
  signal?: AbortSignal;
}

/** Write the run's folder on the shared filesystem: scripts, shard files, the 0600 key file. */
export async function prepareRunFolder(executor: Executor, o: PrepareOptions): Promise<void> {
  const files: Record<string, string> = {
    ".pf-lib.sh": readHostScript("lib.sh"),
    ".pf-rclone.sh": readHostScript("rclone.sh"),
    "job.sh": readHostScript("job.sh"),
    [SLURM_FILES.task]: readHostScript("slurm-task.sh"),
    [SLURM_FILES.setup]: `${o.setup.join("\n")}\n`,
    [SLURM_FILES.state]: `${JSON.stringify(o.run, null, 1)}\n`,
    ...o.files,
  };
  const script = [
    `mkdir -p ${quoteShell(o.runDir)}/logs && cd ${quoteShell(o.runDir)} || exit 1`,
    ...Object.entries(files).map(([path, text]) => heredoc(path, text)),
    `chmod 755 ${SLURM_FILES.task}`,
    // Created 0600 from the start (umask), then moved into place: never readable by others.
    `(umask 077 && ${heredoc(`${o.envFile}.tmp`, buildExports(o.env)).trimEnd()}\n) && mv -f ${o.envFile}.tmp ${o.envFile} || exit 1`,
    "",
  ].join("\n");
  const r = await executor.run(script, { signal: o.signal });
  if (r.exitCode !== 0) {
    throw new UserError(
      `Could not write the run's folder ${o.runDir} on ${executor.description}: ${r.stderrTail}. The target's workdir must be writable and on the cluster's shared filesystem.`,
    );
  }
}

/** Save slurm.json in the run's folder (job ids and shard states). */
export async function saveSlurmRun(
  executor: Executor,
  runDir: string,
  run: SlurmRun,
): Promise<void> {
  await executor.writeFile(
    posix.join(runDir, SLURM_FILES.state),
    `${JSON.stringify(run, null, 1)}\n`,
  );
}

export async function readSlurmRun(
  executor: Executor,
  runDir: string,
): Promise<SlurmRun | undefined> {
  const data = await executor.readFile(posix.join(runDir, SLURM_FILES.state));
  if (!data) return undefined;
  return slurmRunSchema.parse(JSON.parse(data.toString("utf8")));
}

/** Remove the run's key file (idempotent). */
export async function removeKeyFile(executor: Executor, runDir: string): Promise<void> {
  await executor.run(`rm -f -- ${quoteShell(runDir)}/${SLURM_FILES.envPrefix}*\n`);
}

export interface SubmitOptions {
  runId: string;
  runDir: string;
  target: SlurmTargetConfig;
  info: ClusterInfo;
  /** Shard indexes to (re)submit. */
  shards: readonly number[];
  /** The key file prepareRunFolder wrote for this submission. */
  envFile: string;
  logger?: Logger;
  signal?: AbortSignal;
}

/**
 * sbatch the shards (in chunks when an index would reach MaxArraySize), then a cleanup job
 * that removes the key file once every task has ended. Updates `run` in place.
 */
export async function submitShards(
  executor: Executor,
  run: SlurmRun,
  o: SubmitOptions,
): Promise<void> {
  const t = o.target;
  const chunks = planArrayChunks(o.shards, o.info.maxArraySize, t.maxConcurrent);
  const submitted: string[] = [];
  const common = {
    jobName: run.jobName,
    chdir: o.runDir,
    partition: t.partition,
    account: t.account,
    qos: t.qos,
  };
  try {
    for (const chunk of chunks) {
      const jobId = await submitArray(
        executor,
        {
          ...common,
          array: chunk.spec,
          script: posix.join(o.runDir, SLURM_FILES.task),
          scriptArgs: [String(chunk.offset), o.envFile],
          output: posix.join(o.runDir, "logs", "slurm-%A_%a.log"),
          gpusPerTask: t.gpusPerTask,
          cpusPerTask: t.cpusPerTask,
          memPerTask: t.memPerTask,
          timeLimit: t.timeLimit,
          signalLeadSeconds: signalLeadFor(t.timeLimit),
          extraArgs: t.sbatchArgs,
        },
        o.signal,
      );
      submitted.push(jobId);
      run.chunks.push({ jobId, offset: chunk.offset, shards: chunk.shards });
      for (const index of chunk.shards) {
        const shard = run.shards.find((s) => s.index === index);
        if (!shard) throw new Error(`no shard ${index}`);
        Object.assign(shard, {
          state: "pending",
          slurmState: "PENDING",
          jobId,
          taskId: index - chunk.offset,
          exitCode: null,
          node: null,
          seconds: null,
          attempts: shard.attempts + 1,
        });
      }
      o.logger?.info(
        `submitted array job ${jobId} (--array=${chunk.spec}${chunk.offset ? `, shards from ${chunk.offset}` : ""})`,
      );
    }
  } catch (error) {
    // Half a submission is worse than none: take back what went in.
    await cancelJobs(executor, submitted).catch(() => undefined);
    throw error;
  }
  run.jobIds.push(...submitted);
  run.jobId ??= submitted[0];
  try {
    const cleanup = await submitArray(
      executor,
      {
        ...common,
        wrap: `rm -f ${o.envFile} ${o.envFile}.tmp`,
        output: posix.join(o.runDir, "logs", "slurm-cleanup-%j.log"),
        cpusPerTask: 1,
        timeLimit: "5",
        dependency: `afterany:${submitted.join(":")}`,
      },
      o.signal,
    );
    run.cleanupJobIds.push(cleanup);
  } catch (error) {
    o.logger?.warn(
      `could not submit the job that removes the run's key file after the array (${(error as Error).message}); posefactory removes it when it sees the run end`,
    );
  }
}

/** The state a shard shows for a Slurm row: TIMEOUT also when the task stopped itself at the warning. */
function slurmStateOf(row: TaskRow): string {
  if (row.state === "FAILED" && row.exitCode === TASK_EXIT_TIME_LIMIT) return "TIMEOUT";
  return row.state;
}

export interface ShardCounts {
  pending: number;
  running: number;
  done: number;
  failed: number;
  /** Tasks Slurm has ended, not yet checked against storage. */
  ended: number;
}

/**
 * Ask Slurm about the run's tasks and update the shards in place. A shard whose task Slurm
 * has ended gets `ended` here (phase done/failed by Slurm's word); verifyShards then checks
 * it against storage. Returns whether anything changed.
 */
export async function pollShards(
  executor: Executor,
  run: SlurmRun,
  info: ClusterInfo,
  signal?: AbortSignal,
): Promise<{ changed: boolean; ended: Set<number>; unknown: Set<number> }> {
  const active = run.shards.filter(
    (s) => (s.state === "pending" || s.state === "running") && s.jobId,
  );
  const ids = [...new Set(active.map((s) => s.jobId as string))];
  const rows = await queryTasks(executor, ids, { accounting: info.accounting, signal });
  let changed = false;
  const ended = new Set<number>();
  const unknown = new Set<number>();
  for (const shard of active) {
    const row = rows.find((r) => r.jobId === shard.jobId && r.taskId === shard.taskId);
    if (!row) {
      unknown.add(shard.index);
      continue;
    }
    const phase = phaseOf(row.state);
    const next = {
      state: phase === "running" ? (row.state === "PENDING" ? "pending" : "running") : shard.state,
      slurmState: slurmStateOf(row),
      exitCode: row.exitCode,
      node: row.node,
      seconds: row.seconds,
    } as const;
    if (next.state !== shard.state || next.slurmState !== shard.slurmState) changed = true;
    Object.assign(shard, next);
    if (phase !== "running") ended.add(shard.index);
  }
  return { changed, ended, unknown };
}

/** A shard's manifest in storage: the truth about what it delivered. */
async function readShardManifest(
  storage: Storage,
  runId: string,
  index: number,
): Promise<Manifest | undefined> {
  const key = runKey(storage.prefix, runId, "shards", String(index), RunFiles.manifest);
  return parseManifestData(await storage.getBytes(key), key);
}

/**
 * Settle shards Slurm has ended: done only when Slurm says COMPLETED and the shard's
 * manifest is in storage; otherwise failed with Slurm's state named.
 */
export async function verifyShards(
  storage: Storage,
  runId: string,
  run: SlurmRun,
  indexes: Iterable<number>,
  options: { forgotten?: boolean } = {},
): Promise<void> {
  for (const index of indexes) {
    const shard = run.shards.find((s) => s.index === index);
    if (!shard) continue;
    const manifest = await readShardManifest(storage, runId, index);
    if (options.forgotten) {
      // Neither squeue nor sacct knows the task any more: storage decides.
      shard.slurmState = manifest ? "COMPLETED" : "UNKNOWN";
    }
    if (shard.slurmState === "COMPLETED" && manifest) shard.state = "done";
    else {
      shard.state = "failed";
      if (shard.slurmState === "COMPLETED") shard.slurmState = "COMPLETED (no manifest in storage)";
    }
  }
}

export function countShards(run: SlurmRun): ShardCounts {
  const counts = { pending: 0, running: 0, done: 0, failed: 0, ended: 0 };
  for (const s of run.shards) counts[s.state]++;
  return counts;
}

/** PNGs the tasks have written so far, in the run's folder on the shared filesystem. */
export async function countImages(
  executor: Executor,
  runDir: string,
  signal?: AbortSignal,
): Promise<number> {
  let out = "";
  await executor.run(
    `find ${quoteShell(posix.join(runDir, "shards"))} -name '*.png' -type f 2>/dev/null | wc -l\n`,
    {
      signal,
      onStdout: (c) => {
        out += c;
      },
    },
  );
  return Number.parseInt(out.trim(), 10) || 0;
}

/** scancel the run's arrays and cleanup jobs, wait until no task is left, remove the key file. */
export async function cancelSlurmRun(
  executor: Executor,
  run: SlurmRun,
  runDir: string,
  options: { timeoutSeconds?: number } = {},
): Promise<void> {
  const ids = [...run.jobIds, ...run.cleanupJobIds];
  await cancelJobs(executor, ids, { name: run.jobName });
  const deadline = Date.now() + (options.timeoutSeconds ?? 120) * 1000;
  let tries = 0;
  while ((await findLiveJobs(executor, run.jobName)).length > 0) {
    // A job the controller had not listed yet when the first scancel ran.
    if (++tries % 10 === 0) await cancelJobs(executor, [], { name: run.jobName });
    if (Date.now() > deadline) {
      throw new UserError(
        `Tasks of ${run.jobName} are still there after scancel: check \`squeue --name=${run.jobName}\`.`,
      );
    }
    await sleep(500);
  }
  await removeKeyFile(executor, runDir);
  for (const s of run.shards) {
    if (s.state === "pending" || s.state === "running") {
      s.state = "failed";
      s.slurmState = "CANCELLED";
    }
  }
}

/**
 * After the last shard: one manifest.json, one annotations.json per character and one
 * sha256sums.txt under runs/<runId>/, from the shards' files under runs/<runId>/shards/.
 * Units of shards that delivered nothing are marked failed in the merged manifest.
 */
export async function mergeShardsInStorage(
  storage: Storage,
  runId: string,
  run: SlurmRun,
  options: { characters: readonly string[]; clips: readonly string[]; signal?: AbortSignal },
): Promise<Manifest | undefined> {
  const manifests: Manifest[] = [];
  const sums: string[] = [];
  const docs = new Map<string, Annotations[]>();
  const byShard = new Map<number, Manifest>();
  for (const shard of run.shards) {
    const manifest = await readShardManifest(storage, runId, shard.index);
    if (!manifest) continue;
    manifests.push(manifest);
    byShard.set(shard.index, manifest);
    const base = runKey(storage.prefix, runId, "shards", String(shard.index));
    const sum = await storage.getBytes(`${base}/${RunFiles.checksums}`, { signal: options.signal });
    if (sum) sums.push(sum.toString("utf8"));
    for (const c of manifest.characters) {
      const data = await storage.getBytes(`${base}/${annotationsPath(c.name)}`, {
        signal: options.signal,
      });
      if (!data) continue;
      docs.set(c.name, [
        ...(docs.get(c.name) ?? []),
        annotationsSchema.parse(JSON.parse(data.toString("utf8"))),
      ]);
    }
  }
  // A failed shard fails its characters (even when another shard rendered their other clips,
  // or it delivered before failing), so the run is partial and --resume renders them again.
  const missing: Manifest["characters"] = [];
  for (const shard of run.shards.filter((s) => s.state === "failed")) {
    const own = byShard.get(shard.index);
    for (const unit of shard.units) {
      if (own?.characters.some((c) => c.name === unit.character && c.status === "failed")) continue;
      const code =
        shard.exitCode !== null && shard.exitCode !== undefined ? `, exit ${shard.exitCode}` : "";
      missing.push({
        name: unit.character,
        status: "failed",
        error: `shard ${shard.index} ${shard.slurmState ?? "failed"}${code}${unit.clip ? ` (clip ${unit.clip})` : ""}: see posefactory logs ${runId} --shard ${shard.index}`,
        seconds: { import: 0, bbox: 0, cameras: 0, render: 0 },
        clips: [],
        images: [],
      });
    }
  }
  if (manifests.length === 0) return undefined;
  const first = manifests[0];
  const merged = mergeManifests(
    runId,
    [
      ...manifests,
      ...(missing.length > 0
        ? [
            {
              version: 1 as const,
              blenderVersion: first?.blenderVersion ?? "unknown",
              device: first?.device ?? { type: "unknown", names: [] },
              characters: missing,
            },
          ]
        : []),
    ],
    options,
  );
  const replaced: Record<string, string> = {};
  const { createHash } = await import("node:crypto");
  for (const [name, list] of docs) {
    const text = `${JSON.stringify(mergeAnnotations(list, options), null, 1)}\n`;
    const path = annotationsPath(name);
    replaced[path] = createHash("sha256").update(text).digest("hex");
    await storage.putBytes(runKey(storage.prefix, runId, path), text, {
      contentType: "application/json",
      signal: options.signal,
    });
  }
  await storage.putBytes(
    runKey(storage.prefix, runId, RunFiles.checksums),
    mergeChecksums(sums, replaced),
    { contentType: "text/plain", signal: options.signal },
  );
  await storage.putBytes(
    runKey(storage.prefix, runId, RunFiles.manifest),
    `${JSON.stringify(merged, null, 1)}\n`,
    { contentType: "application/json", signal: options.signal },
  );
  return merged;
}

/** One line per shard for `posefactory status`. */
export function describeShards(run: SlurmRun): string[] {
  return run.shards.map((s) => {
    const units = s.units
      .map((u) => (u.clip ? `${u.character}/${u.clip}` : u.character))
      .join(", ");
    const where = s.jobId ? ` job ${s.jobId}_${s.taskId}` : "";
    const detail = [
      s.slurmState && s.slurmState !== s.state.toUpperCase() ? s.slurmState : undefined,
      s.exitCode !== null && s.exitCode !== undefined ? `exit ${s.exitCode}` : undefined,
      s.node ? `on ${s.node}` : undefined,
      s.seconds !== null && s.seconds !== undefined ? `${s.seconds} s` : undefined,
    ]
      .filter(Boolean)
      .join(", ");
    return `  shard ${s.index}: ${s.state}${detail ? ` (${detail})` : ""}${where} [${units}]`;
  });
}
