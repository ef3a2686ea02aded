/**
 * The render step: one detached job on the target (remote/jobs.ts) that renders, and on an
 * ssh target also pulls inputs, runs the python detector and pushes results (host-script.ts).
 */
import { join, posix } from "node:path";
import { loadS3Credentials } from "../config/credentials.js";
import type { S3StorageConfig } from "../config/schema.js";
import { InterruptedError, UserError } from "../errors.js";
import { attachJob, getJobStatus, resolveJobDir, startJob } from "../remote/jobs.js";
import { forwardLine, lineSplitter, parseManifest } from "../render/blender.js";
import { buildJob } from "../render/job.js";
import {
  buildLocalJobScript,
  buildRcloneEnv,
  buildSshJobScript,
  buildSshPushScript,
  hostInputsDir,
} from "./host-script.js";
import { DETACHED, type PipelineOptions, type State, toRenderOf } from "./state.js";

export function buildRenderJob(s: State): {
  job: ReturnType<typeof buildJob>;
  jobDir: string;
  script: string;
  env: Record<string, string>;
} {
  const { target, config, runId } = s;
  const toRender = toRenderOf(s);
  const jobDir = resolveJobDir(target, runId);
  if (target.executor === "local") {
    const job = buildJob(config, { runId, characters: toRender, outDir: s.localRunDir });
    const script = buildLocalJobScript({
      blender: target.blender,
      jobPath: join(s.localRunDir, "job.json"),
    });
    return { job, jobDir, script, env: {} };
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
  });
  const d = config.detect;
  const script = buildSshJobScript({
    storage,
    workdir: target.workdir,
    blender: target.blender,
    runId,
    characterFiles: toRender.map((c) => c.fileName),
    jobJson: JSON.stringify(job, null, 2),
    detect:
      s.detect === "host"
        ? {
            python: target.python,
            model: d.model,
            modelPath: d.modelPath,
            delegate: d.delegate,
            minPoseDetectionConfidence: d.minPoseDetectionConfidence,
            minPosePresenceConfidence: d.minPosePresenceConfidence,
          }
        : undefined,
  });
  const credentials = loadS3Credentials(storage, {
    baseDir: s.ctx.resolved.baseDir,
    env: s.ctx.env,
  });
  return { job, jobDir, script, env: buildRcloneEnv(storage, credentials) };
}

export async function runRenderStep(s: State, options: PipelineOptions): Promise<string> {
  const { ctx } = s;
  const executor = await s.executor();
  const { job, jobDir, script, env } = buildRenderJob(s);
  let status = options.resume ? await getJobStatus(executor, jobDir, ctx.signal) : undefined;
  if (status?.state === "failed" && status.exitCode === 22 && s.target.executor === "ssh") {
    // The render finished on the host and only the push failed: push again, render nothing.
    ctx.logger.info(`the renders of run ${s.runId} are on the host; pushing them again`);
    const storage = s.target.storage as S3StorageConfig;
    status = await startJob(executor, {
      dir: jobDir,
      script: buildSshPushScript({ storage, runId: s.runId }),
      env,
      logger: ctx.logger,
      signal: ctx.signal,
    });
  } else if (!status || status.state === "failed" || status.state === "stopped") {
    // Locally job.json goes next to the renders; on a host the job script writes it.
    if (s.target.executor === "local") {
      await executor.writeFile(
        join(s.localRunDir, "job.json"),
        `${JSON.stringify(job, null, 2)}\n`,
      );
    }
    status = await startJob(executor, {
      dir: jobDir,
      script,
      env,
      logger: ctx.logger,
      signal: ctx.signal,
    });
    ctx.logger.info(`render job started on ${executor.description} (run ${s.runId})`);
  }
  if (options.detach && status.state === "running") throw DETACHED;
  if (status.state === "running") {
    const lines = lineSplitter((line) => forwardLine(ctx.logger, line));
    const attached = await attachJob(executor, jobDir, {
      onOutput: (text) => lines.push(text),
      signal: ctx.signal,
      logger: ctx.logger,
    });
    lines.end();
    status = attached.status;
  }
  if (status.state === "stopped") throw new InterruptedError("the render job was stopped");
  // A runpod target records the pod's own cost (runpod/pipeline.ts), not the job's.
  const costPerHour = "costPerHour" in s.target ? s.target.costPerHour : undefined;
  if (status.seconds !== null && costPerHour !== undefined) {
    const hours = status.seconds / 3600;
    s.record.cost = { hours, costPerHour, usd: hours * costPerHour };
  }
  // 0: every character rendered; 1: some failed (the manifest says which); more: the job broke.
  if (status.exitCode !== 0 && status.exitCode !== 1) {
    const log = await executor.readFile(posix.join(jobDir, "job.log")).catch(() => undefined);
    const tail = log?.toString("utf8").trimEnd().split("\n").slice(-15).join("\n") ?? "";
    throw new UserError(
      `The render job on ${executor.description} failed with exit code ${status.exitCode}${exitHint(status.exitCode)}; its log ends with:\n${tail}\n(full log: posefactory logs ${s.runId})`,
    );
  }
  // On a host the manifest arrives with the download step; read it there only when it won't.
  const downloads = !options.steps || options.steps.includes("download");
  if (s.target.executor === "ssh" && downloads)
    return `job ${status.state} in ${status.seconds ?? "?"}s`;
  const manifestPath =
    s.target.executor === "local"
      ? join(s.localRunDir, "manifest.json")
      : posix.join(jobDir, "manifest.json");
  const manifestText = await executor.readFile(manifestPath);
  if (!manifestText)
    throw new UserError(
      `Blender wrote no manifest.json in ${manifestPath}: see posefactory logs ${s.runId}`,
    );
  s.manifest = parseManifest(manifestText.toString("utf8"), manifestPath);
  const images = s.manifest.characters.reduce((n, c) => n + c.images.length, 0);
  return `${images} images in ${status.seconds ?? "?"}s`;
}

function exitHint(code: number | null): string {
  if (code === 20)
    return " (pulling inputs from storage failed: check the storage settings and `posefactory doctor`)";
  if (code === 21) return " (pose detection failed on the host: run `posefactory setup-pod`)";
  if (code === 22) return " (pushing results to storage failed; they are still on the host)";
  if (code === 127) return " (a program was not found on the host: run `posefactory setup-pod`)";
  return "";
}
