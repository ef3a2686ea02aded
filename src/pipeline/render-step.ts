/**
 * The render step: one job on the target's JobRunner (src/jobs/) that renders, and on an ssh
 * target also pulls inputs, runs the python detector and pushes results (host-script.ts).
 */
import { join, posix } from "node:path";
import { loadS3Credentials, resolveUserPath } from "../config/credentials.js";
import type { S3StorageConfig } from "../config/schema.js";
import { InterruptedError, UserError } from "../errors.js";
import type { HostJob } from "../jobs/types.js";
import { forwardLine, lineSplitter } from "../render/blender.js";
import { buildJob } from "../render/job.js";
import { HostExit, hostExitHint } from "../run/exit-codes.js";
import { parseManifestData } from "../run/manifest.js";
import { hostInputsDir, RunFiles } from "../run/paths.js";
import {
  buildLocalJob,
  buildSshJob,
  buildStorageEnv,
  characterInputs,
  detectOnHost,
  type HostStep,
  hostAssetsOf,
} from "./host-script.js";
import { DETACHED, type PipelineOptions, type State, toRenderOf } from "./state.js";

export function buildRenderJob(
  s: State,
  steps?: HostStep[],
): {
  job: ReturnType<typeof buildJob>;
  jobDir: string;
  hostJob: HostJob;
} {
  const { target, config, runId } = s;
  const toRender = toRenderOf(s);
  const jobDir = s.hostRunDir;
  const backgrounds = config.scene?.backgrounds;
  if (target.executor === "local") {
    const job = buildJob(config, {
      runId,
      characters: toRender,
      outDir: s.localRunDir,
      backgroundsDir: backgrounds
        ? resolveUserPath(backgrounds, s.ctx.resolved.baseDir)
        : undefined,
      animationsDir: config.animations
        ? resolveUserPath(config.animations, s.ctx.resolved.baseDir)
        : undefined,
    });
    const hostJob = buildLocalJob({
      runId,
      blender: target.blender,
      jobPath: join(s.localRunDir, RunFiles.job),
    });
    return { job, jobDir, hostJob };
  }
  const storage = target.storage as S3StorageConfig;
  const inputs = hostInputsDir(target.workdir);
  const job = buildJob(config, {
    runId,
    characters: toRender.map((c) => ({
      ...c,
      file: posix.join(inputs, "characters", c.fileName.split("\\").join("/")),
    })),
    outDir: jobDir,
    ...hostAssetsOf(config, jobDir),
  });
  const hostJob = buildSshJob({
    storage,
    workdir: target.workdir,
    blender: target.blender,
    runId,
    inputFiles: [...characterInputs(toRender.map((c) => c.fileName)), ...s.inputFiles],
    jobJson: JSON.stringify(job, null, 2),
    detect: s.detect === "host" ? detectOnHost(s.config.detect, s.target.python) : undefined,
    steps,
  });
  const credentials = loadS3Credentials(storage, {
    baseDir: s.ctx.resolved.baseDir,
    env: s.ctx.env,
  });
  hostJob.env = { ...hostJob.env, ...buildStorageEnv(storage, credentials) };
  return { job, jobDir, hostJob };
}

export async function runRenderStep(s: State, options: PipelineOptions): Promise<string> {
  const { ctx } = s;
  if (s.target.executor === "slurm") {
    const { runSlurmRenderStep } = await import("./slurm-step.js");
    return runSlurmRenderStep(s, options);
  }
  const runner = await s.runner();
  const { job, jobDir, hostJob } = buildRenderJob(s);
  const lines = lineSplitter((line) => forwardLine(ctx.logger, line));
  // Unless detaching, the job's log streams from the start, in the start's round trip.
  const follow = options.detach ? undefined : { onOutput: (text: string) => lines.push(text) };
  let status = options.resume ? await runner.status(s.runId, ctx.signal) : undefined;
  const detectAgain =
    status?.state === "failed" &&
    status.exitCode === HostExit.detectFailed &&
    s.target.executor === "ssh" &&
    s.detect === "host";
  delete s.record.hostFailure;
  if (detectAgain) {
    // Rendered and pushed; only detection failed: detect (and push) again, render nothing.
    ctx.logger.info(`the renders of run ${s.runId} are on the host; detecting poses again`);
    status = await runner.resume(buildRenderJob(s, ["detect", "push"]).hostJob, {
      logger: ctx.logger,
      signal: ctx.signal,
      follow,
    });
  } else if (
    status?.state === "failed" &&
    status.exitCode === HostExit.pushFailed &&
    s.target.executor === "ssh"
  ) {
    // The render finished on the host and only the push failed: push again, render nothing.
    // Detection (on the host) goes first: it skips what is done and makes up a failed one.
    ctx.logger.info(`the renders of run ${s.runId} are on the host; pushing them again`);
    const steps: HostStep[] = s.detect === "host" ? ["detect", "push"] : ["push"];
    status = await runner.resume(buildRenderJob(s, steps).hostJob, {
      logger: ctx.logger,
      signal: ctx.signal,
      follow,
    });
  } else if (!status || status.state === "failed" || status.state === "stopped") {
    // Locally job.json goes next to the renders; on a host the job's files bring it.
    if (s.target.executor === "local") {
      const executor = await s.executor();
      await executor.writeFile(
        join(s.localRunDir, RunFiles.job),
        `${JSON.stringify(job, null, 2)}\n`,
      );
    }
    ctx.logger.info(`starting the render job on ${runner.description} (run ${s.runId})`);
    status = await runner.start(hostJob, { logger: ctx.logger, signal: ctx.signal, follow });
  }
  if (options.detach && status.state === "running") throw DETACHED;
  if (status.state === "running") {
    const followed = await runner.follow(s.runId, {
      onOutput: (text) => lines.push(text),
      status,
      signal: ctx.signal,
      logger: ctx.logger,
    });
    status = followed.status;
  }
  lines.end();
  if (status.state === "stopped") throw new InterruptedError("the render job was stopped");
  // A runpod target records the pod's own cost (runpod/pipeline.ts), not the job's.
  const costPerHour = "costPerHour" in s.target ? s.target.costPerHour : undefined;
  if (status.seconds !== null && costPerHour !== undefined) {
    const hours = status.seconds / 3600;
    s.record.cost = { hours, costPerHour, usd: hours * costPerHour };
  }
  if (
    status.exitCode === HostExit.detectFailed &&
    s.target.executor === "ssh" &&
    (!options.steps || options.steps.includes("download"))
  ) {
    // The renders are in storage: deliver them, record the run as partial, say how to finish.
    const fix = `${hostExitHint(status.exitCode).replace("<runId>", s.runId)}; see \`posefactory logs ${s.runId}\``;
    s.record.hostFailure = { step: "detect", exitCode: status.exitCode, fix };
    ctx.logger.warn(`pose detection failed on the host (exit ${status.exitCode}): ${fix}`);
    return `rendered in ${status.seconds ?? "?"}s; detection failed on the host (exit ${status.exitCode})`;
  }
  // 0: every character rendered; 1: some failed (the manifest says which); more: the job broke.
  if (status.exitCode !== HostExit.ok && status.exitCode !== HostExit.someFailed) {
    const log = await runner.readLog(s.runId);
    const tail = log?.trimEnd().split("\n").slice(-15).join("\n") ?? "";
    const hint = hostExitHint(status.exitCode);
    throw new UserError(
      `The render job on ${runner.description} failed with exit code ${status.exitCode}${hint ? ` (${hint.replace("<runId>", s.runId)})` : ""}; its log ends with:\n${tail}\n(full log: posefactory logs ${s.runId})`,
    );
  }
  // On a host the manifest arrives with the download step; read it there only when it won't.
  const downloads = !options.steps || options.steps.includes("download");
  if (s.target.executor === "ssh" && downloads)
    return `job ${status.state} in ${status.seconds ?? "?"}s`;
  const manifestPath =
    s.target.executor === "local"
      ? join(s.localRunDir, RunFiles.manifest)
      : posix.join(jobDir, RunFiles.manifest);
  const executor = await s.executor();
  const manifest = parseManifestData(await executor.readFile(manifestPath), manifestPath);
  if (!manifest)
    throw new UserError(
      `Blender wrote no manifest.json in ${manifestPath}: see posefactory logs ${s.runId}`,
    );
  s.manifest = manifest;
  const images = s.manifest.characters.reduce((n, c) => n + c.images.length, 0);
  return `${images} images in ${status.seconds ?? "?"}s`;
}
