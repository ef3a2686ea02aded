/**
 * The Slurm branches of `status`, `logs` and `stop`: a Slurm run's state lives in slurm.json
 * in its folder on the cluster (job ids, shards), its logs in logs/shard-<i>.log there.
 */
import { posix } from "node:path";
import type { SlurmTargetConfig } from "../config/schema.js";
import type { Context } from "../context.js";
import { UserError } from "../errors.js";
import {
  cancelSlurmRun,
  countShards,
  describeShards,
  pollShards,
  readSlurmRun,
  type SlurmRun,
  saveSlurmRun,
  verifyShards,
} from "../jobs/slurm.js";
import type { Executor } from "../remote/types.js";
import { parseRunId } from "../run/id.js";
import { hostRunDir } from "../run/paths.js";
import { sleep } from "../sleep.js";
import { readClusterInfo } from "../slurm/index.js";

interface SlurmJob {
  runId: string;
  runDir: string;
  executor: Executor;
  run: SlurmRun;
}

async function openSlurmJob(ctx: Context, runIdArg: unknown): Promise<SlurmJob> {
  const runId = parseRunId(runIdArg);
  const target = ctx.resolved.target as SlurmTargetConfig;
  const runDir = hostRunDir(target.workdir, runId);
  const executor = await ctx.executor();
  const run = await readSlurmRun(executor, runDir);
  if (!run) {
    throw new UserError(
      `No Slurm run ${runId} on ${executor.description} (no slurm.json in ${runDir}): check the run id.`,
    );
  }
  return { runId, runDir, executor, run };
}

/** Ask Slurm (and storage, for ended tasks) where every shard is. */
async function refresh(ctx: Context, job: SlurmJob): Promise<void> {
  const info = await readClusterInfo(job.executor, ctx.signal);
  const { ended, unknown } = await pollShards(job.executor, job.run, info, ctx.signal);
  const storage = await ctx.storage();
  await verifyShards(storage, job.runId, job.run, ended);
  await verifyShards(storage, job.runId, job.run, unknown, { forgotten: true });
}

function summary(job: SlurmJob): string {
  const c = countShards(job.run);
  const state = c.pending + c.running > 0 ? "running" : c.failed > 0 ? "failed" : "done";
  return `run ${job.runId}: ${state} on Slurm (${job.run.jobIds.length > 1 ? `jobs ${job.run.jobIds.join(", ")}` : `job ${job.run.jobId ?? "-"}`}): ${c.done} done, ${c.failed} failed, ${c.running} running, ${c.pending} pending of ${job.run.shards.length} shards`;
}

export async function slurmStatus(ctx: Context, runIdArg: unknown): Promise<number> {
  const job = await openSlurmJob(ctx, runIdArg);
  await refresh(ctx, job);
  ctx.output.text(summary(job));
  for (const line of describeShards(job.run)) ctx.output.text(line);
  ctx.output.result({ runId: job.runId, target: job.executor.description, slurm: job.run });
  return 0;
}

export async function slurmStop(ctx: Context, runIdArg: unknown): Promise<number> {
  const job = await openSlurmJob(ctx, runIdArg);
  await refresh(ctx, job);
  const live = job.run.shards.filter((s) => s.state === "pending" || s.state === "running");
  await cancelSlurmRun(job.executor, job.run, job.runDir);
  await saveSlurmRun(job.executor, job.runDir, job.run);
  ctx.output.text(
    live.length > 0
      ? `run ${job.runId}: cancelled ${live.length} shard(s) (scancel ${job.run.jobIds.join(" ")})`
      : `${summary(job)}: nothing to stop`,
  );
  ctx.output.result({ runId: job.runId, stopped: live.length > 0, slurm: job.run });
  return 0;
}

/**
 * Print the shards' logs (one shard with --shard); with -f keep printing what they add until
 * every task has ended. Ctrl-C only detaches.
 */
export async function slurmLogs(
  ctx: Context,
  runIdArg: unknown,
  options: { shard?: number; follow: boolean },
): Promise<number> {
  const job = await openSlurmJob(ctx, runIdArg);
  const shards =
    options.shard === undefined
      ? job.run.shards.map((s) => s.index)
      : job.run.shards.filter((s) => s.index === options.shard).map((s) => s.index);
  if (shards.length === 0) {
    throw new UserError(
      `Run ${job.runId} has no shard ${options.shard}: it has shards 0-${job.run.shards.length - 1}.`,
    );
  }
  const offsets = new Map<number, number>(shards.map((i) => [i, 0]));
  const print = async () => {
    for (const index of shards) {
      const data = await job.executor.readFile(
        posix.join(job.runDir, "logs", `shard-${index}.log`),
      );
      const from = offsets.get(index) ?? 0;
      if (!data || data.length <= from) continue;
      // Only complete lines, so two shards' lines never interleave mid-line.
      const end = data.lastIndexOf(0x0a) + 1;
      if (end <= from) continue;
      const text = data.subarray(from, end).toString("utf8");
      offsets.set(index, end);
      for (const line of text.replace(/\n$/, "").split("\n"))
        ctx.output.text(shards.length > 1 ? `[shard ${index}] ${line}` : line);
    }
  };
  await print();
  if (options.follow) {
    try {
      for (;;) {
        await refresh(ctx, job);
        await print();
        const c = countShards(job.run);
        if (c.pending + c.running === 0) break;
        await sleep(1000, ctx.signal);
      }
      await print();
    } catch (error) {
      if (ctx.signal.aborted) {
        ctx.logger.info(
          `detached; the tasks keep running: posefactory stop ${job.runId} to cancel them`,
        );
      }
      throw error;
    }
  }
  ctx.output.result({
    runId: job.runId,
    shards,
    bytes: [...offsets.values()].reduce((a, b) => a + b, 0),
  });
  return 0;
}
