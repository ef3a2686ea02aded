/**
 * The render step on a Slurm target: the run cut into shards (jobs/slurm-shards.ts), one
 * sbatch array (jobs/slurm.ts), followed until every task has ended, then the shards merged
 * into one run in storage. One failing shard does not stop the others; `--resume` resubmits
 * only the failed or missing shards; Ctrl-C cancels the array (`--detach` leaves it running).
 */
import { posix } from "node:path";
import { loadS3Credentials } from "../config/credentials.js";
import type { S3StorageConfig, SlurmTargetConfig } from "../config/schema.js";
import { InterruptedError, isAbortError, UserError } from "../errors.js";
import {
  cancelSlurmRun,
  countImages,
  countShards,
  describeShards,
  envFileName,
  mergeShardsInStorage,
  newSlurmRun,
  pollShards,
  prepareRunFolder,
  removeKeyFile,
  type SlurmRun,
  saveSlurmRun,
  submitShards,
  verifyShards,
} from "../jobs/slurm.js";
import { planShards, planUnits } from "../jobs/slurm-shards.js";
import { buildJob } from "../render/job.js";
import { hostInputsDir, RunFiles } from "../run/paths.js";
import { sleep } from "../sleep.js";
import { readClusterInfo } from "../slurm/index.js";
import {
  buildSshJob,
  buildStorageEnv,
  characterInputs,
  detectOnHost,
  hostAssetsOf,
} from "./host-script.js";
import { DETACHED, type PipelineOptions, type State, toRenderOf } from "./state.js";

const POLL_MS = 2000;
/** Polls a task may be missing from squeue and sacct (sacct lags) before storage decides. */
const FORGOTTEN_POLLS = 10;

/** The shard plan of a new run: every (character, clip) unit, balanced by frames x cameras. */
export function planRunShards(s: State): SlurmRun {
  const target = s.target as SlurmTargetConfig;
  const { config } = s;
  const cameras = config.cameras.azimuthsDeg.length * config.cameras.elevationsDeg.length;
  const frames = "list" in config.frames ? config.frames.list.length : undefined;
  const units = planUnits(
    toRenderOf(s).map((c) => c.name),
    config.clips,
    cameras,
    () => frames,
  );
  return newSlurmRun(s.runId, planShards(units, target.maxShards));
}

/** shards/<i>/job.json and inputs.txt for these shards, and the tasks' settings. */
export function buildShardFiles(
  s: State,
  run: SlurmRun,
  indexes: readonly number[],
): { files: Record<string, string>; env: Record<string, string> } {
  const target = s.target as SlurmTargetConfig;
  const storage = target.storage as S3StorageConfig;
  const inputs = hostInputsDir(target.workdir);
  const files: Record<string, string> = {};
  let env: Record<string, string> = {};
  for (const index of indexes) {
    const shard = run.shards.find((x) => x.index === index);
    if (!shard) throw new Error(`no shard ${index}`);
    const names = [...new Set(shard.units.map((u) => u.character))];
    const characters = toRenderOf(s).filter((c) => names.includes(c.name));
    const shardDir = posix.join(s.hostRunDir, "shards", String(index));
    const job = buildJob(s.config, {
      runId: s.runId,
      characters: characters.map((c) => ({
        ...c,
        file: posix.join(inputs, "characters", c.fileName.split("\\").join("/")),
      })),
      outDir: shardDir,
      ...hostAssetsOf(s.config, shardDir),
    });
    for (const c of job.characters) {
      const clips = shard.units.filter((u) => u.character === c.name).map((u) => u.clip);
      if (!clips.includes(null)) c.clips = clips as string[];
    }
    const hostJob = buildSshJob({
      storage,
      workdir: target.workdir,
      blender: target.blender,
      runId: s.runId,
      inputFiles: [...characterInputs(characters.map((c) => c.fileName)), ...s.inputFiles],
      jobJson: JSON.stringify(job, null, 2),
      detect: s.detect === "host" ? detectOnHost(s.config.detect, s.target.python) : undefined,
    });
    for (const name of [RunFiles.job, RunFiles.inputs]) {
      const text = hostJob.files?.[name];
      if (text !== undefined) files[`shards/${index}/${name}`] = text;
    }
    env = hostJob.env ?? {};
  }
  const credentials = loadS3Credentials(storage, {
    baseDir: s.ctx.resolved.baseDir,
    env: s.ctx.env,
  });
  return { files, env: { ...env, ...buildStorageEnv(storage, credentials) } };
}

/** True when a resumed run has shards to render again (failed, or never submitted). */
export function hasShardsToRedo(run: SlurmRun | undefined): boolean {
  return (
    run?.shards.some((x) => x.state === "failed" || (x.state === "pending" && !x.jobId)) ?? false
  );
}

export async function runSlurmRenderStep(s: State, options: PipelineOptions): Promise<string> {
  const { ctx } = s;
  const target = s.target as SlurmTargetConfig;
  const executor = await s.executor();
  const storage = await ctx.storage();
  const info = await readClusterInfo(executor, ctx.signal);
  const runDir = s.hostRunDir;
  const save = async (run: SlurmRun) => {
    s.record.slurm = run;
    await saveSlurmRun(executor, runDir, run);
  };
  const run = s.record.slurm ?? planRunShards(s);
  s.record.slurm = run;

  try {
    // A resumed run: learn what the earlier tasks did before deciding what to submit again.
    if (run.jobIds.length > 0) await settle(s, run, info, { final: true });
    const redo = run.shards
      .filter((x) => x.state === "failed" || (x.state === "pending" && !x.jobId))
      .map((x) => x.index);
    if (redo.length > 0) {
      const { files, env } = buildShardFiles(s, run, redo);
      const envFile = envFileName();
      await prepareRunFolder(executor, {
        runDir,
        files,
        env,
        envFile,
        setup: target.setup,
        run,
        signal: ctx.signal,
      });
      ctx.logger.info(
        `${run.jobIds.length > 0 ? "resubmitting" : "submitting"} ${redo.length} of ${run.shards.length} shards to Slurm on ${executor.description} (MaxArraySize ${info.maxArraySize}${info.accounting ? ", accounting" : ", no accounting"})`,
      );
      await submitShards(executor, run, {
        runId: s.runId,
        runDir,
        target,
        info,
        shards: redo,
        envFile,
        logger: ctx.logger,
        signal: ctx.signal,
      });
    }
    await save(run);
    if (options.detach && run.shards.some((x) => x.state === "pending" || x.state === "running"))
      throw DETACHED;

    let images = 0;
    let line = "";
    let missingPolls = 0;
    for (;;) {
      const { changed, ended, unknown } = await pollShards(executor, run, info, ctx.signal);
      missingPolls = unknown.size > 0 ? missingPolls + 1 : 0;
      await verifyShards(storage, s.runId, run, ended);
      if (missingPolls >= FORGOTTEN_POLLS)
        await verifyShards(storage, s.runId, run, unknown, { forgotten: true });
      images = await countImages(executor, runDir, ctx.signal);
      const c = countShards(run);
      const next = `shards: ${c.done} done, ${c.failed} failed, ${c.running} running, ${c.pending} pending; ${images} images so far`;
      if (next !== line) ctx.logger.info(next);
      line = next;
      if (changed || ended.size > 0) await save(run);
      if (c.pending + c.running === 0) break;
      await sleep(POLL_MS, ctx.signal);
    }
  } catch (error) {
    if (error === DETACHED) throw error;
    if (isAbortError(error) || ctx.signal.aborted) {
      ctx.logger.info(`cancelling ${run.jobName} (scancel ${run.jobIds.join(" ")})`);
      await cancelSlurmRun(executor, run, runDir).catch((e: unknown) =>
        ctx.logger.warn(
          `could not cancel: ${(e as Error).message}; run \`posefactory stop ${s.runId}\``,
        ),
      );
      await save(run).catch(() => undefined);
      throw new InterruptedError(`run ${s.runId} interrupted; its Slurm tasks were cancelled`);
    }
    throw error;
  }
  await removeKeyFile(executor, runDir);
  await save(run);
  for (const l of describeShards(run)) ctx.logger.info(l);
  const merged = await mergeShardsInStorage(storage, s.runId, run, {
    characters: s.record.characters.map((c) => c.name),
    clips: s.config.clips,
    signal: ctx.signal,
  });
  const c = countShards(run);
  if (!merged) {
    throw new UserError(
      `No shard of run ${s.runId} delivered anything (${c.failed} failed):\n${describeShards(run).join("\n")}\nSee \`posefactory logs ${s.runId} --shard <i>\`.`,
    );
  }
  const imageCount = merged.characters.reduce((n, x) => n + x.images.length, 0);
  return `${c.done} of ${run.shards.length} shards done${c.failed ? `, ${c.failed} failed` : ""}; ${imageCount} images`;
}

/** Bring a resumed run's shards up to date (tasks may have ended while nobody watched). */
async function settle(
  s: State,
  run: SlurmRun,
  info: Awaited<ReturnType<typeof readClusterInfo>>,
  _options: { final: boolean },
): Promise<void> {
  const executor = await s.executor();
  const storage = await s.ctx.storage();
  const { ended, unknown } = await pollShards(executor, run, info, s.ctx.signal);
  await verifyShards(storage, s.runId, run, ended);
  // Tasks Slurm no longer knows (aged out): storage says whether they delivered.
  await verifyShards(storage, s.runId, run, unknown, { forgotten: true });
}
