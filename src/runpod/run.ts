/**
 * The runpod target around one pipeline run: list ours (warn about old ones), create or reuse
 * the pod, set it up when it lacks setup, start the watchdog, then the ordinary pipeline over
 * the pod's ssh Executor (detached job, download). With lifetime run the pod is terminated in
 * a `finally` that also runs on Ctrl-C, on errors and after a failed download (the results
 * are in storage by then). The pod's id, GPU, data center, $/h, seconds and cost go to run.json.
 */
import { loadS3Credentials, resolveUserPath } from "../config/credentials.js";
import type { RunpodTargetConfig, S3StorageConfig, SshTargetConfig } from "../config/schema.js";
import type { Context } from "../context.js";
import { isAbortError, UserError } from "../errors.js";
import { buildStorageEnv } from "../pipeline/host-script.js";
import { readRunRecord, writeRunRecord } from "../pipeline/run-record.js";
import type { PipelineOptions, PipelineResult } from "../pipeline/state.js";
import { formatPipelineSummary } from "../pipeline/summary.js";
import { poseModelsOf } from "../remote/doctor.js";
import { quoteShell } from "../remote/shell.js";
import { createRunId } from "../run/id.js";
import { hostRunDir, runKey } from "../run/paths.js";
import { ensureSetUp, keepHeartbeat, startWatchdog } from "./pod-side.js";
import {
  createPodProvider,
  ensurePod,
  KEEP_NAME,
  type PodProvider,
  podNameFor,
  priceCandidates,
  terminatePod,
} from "./provider.js";
import type { Pod } from "./types.js";

/** push.sh in the run's folder: blender/host/job.sh's push step alone (no secrets). */
const PUSH_SCRIPT = "PF_STEPS=push exec bash --noprofile --norc ./job.sh\n";

export async function runRunpodPipeline(
  options: PipelineOptions,
  ctx: Context,
): Promise<PipelineResult> {
  const { runPipeline } = await import("../pipeline/run.js");
  const provider = createPodProvider(ctx);
  const target = provider.target;
  const runId = options.resume ?? options.runId ?? createRunId();
  if (options.dryRun) {
    const candidates = await priceCandidates(provider);
    const placeholder = { ...sshShape(target), host: "<pod>" };
    const result = await runPipeline(
      { ...options, runId },
      withTarget(ctx, placeholder, ctx.signal),
    );
    const first = candidates[0]!;
    return {
      ...result,
      lines: [
        `pod: ${podNameFor(target.lifetime === "keep" ? undefined : runId)} (reused when it runs, else created: ${first.gpuType}${first.dataCenter ? ` in ${first.dataCenter}` : ""} at $${first.costPerHour.toFixed(2)}/h), lifetime ${target.lifetime}`,
        ...result.lines,
      ],
    };
  }

  const runStarted = Date.now();
  const ready = await ensurePod(provider, { runId });
  const { pod, executor } = ready;
  const kept = pod.name === KEEP_NAME;
  const terminateAtEnd = target.lifetime === "run" && !kept;
  const costPerHour = ready.costPerHour;
  // A pod this run created is billed from its creation; a reused one from this run's start.
  const billedFrom = ready.created ? Date.parse(pod.createdAt) || runStarted : runStarted;
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  let overBudget = false;
  const budget = setInterval(() => {
    const usd = ((Date.now() - billedFrom) / 3_600_000) * costPerHour;
    if (usd >= target.maxRunCost && !overBudget) {
      overBudget = true;
      ctx.logger.warn(
        `run ${runId} has cost $${usd.toFixed(2)} on pod ${pod.id}: maxRunCost ($${target.maxRunCost}) reached, stopping it`,
      );
      controller.abort();
    }
  }, 1000);
  budget.unref();
  let stopHeartbeat = async () => {};
  let pushWhatExists = async () => {};
  let result: PipelineResult | undefined;
  let failure: unknown;
  try {
    const setup = await ensureSetUp(executor, target, {
      poseModels: poseModelsOf(ctx.resolved.config.detect),
      logger: ctx.logger,
      signal: controller.signal,
      onLine: (line) => ctx.logger.info(line),
    });
    ctx.logger.info(`pod ${pod.id} set up: ${setup}`);
    const ssh = ready.ssh;
    const jobDir = hostRunDir(ssh.workdir, runId);
    const storage = target.storage as S3StorageConfig;
    const credentials = loadS3Credentials(storage, { baseDir: ctx.resolved.baseDir, env: ctx.env });
    // Before a cap ends the pod the watchdog pushes what exists: the job's own push step.
    await executor.writeFile(`${jobDir}/push.sh`, PUSH_SCRIPT);
    await startWatchdog(executor, {
      target,
      jobDir,
      idleAction: kept || target.lifetime === "keep" ? "stop" : "terminate",
      podStartedAt: new Date(Date.parse(pod.startedAt ?? pod.createdAt) || runStarted),
      runStartedAt: new Date(billedFrom),
      costPerHour,
      env: { ...buildStorageEnv(storage, credentials), PF_RUN_KEY: runKey(storage.prefix, runId) },
      logger: ctx.logger,
    });
    stopHeartbeat = keepHeartbeat(executor, target, ctx.logger);
    const pushEnv = {
      ...buildStorageEnv(storage, credentials),
      PF_RUN_KEY: runKey(storage.prefix, runId),
    };
    pushWhatExists = async () => {
      const result = await executor.run(
        `cd ${quoteShell(jobDir)} 2>/dev/null && [ -f manifest.json ] || exit 0\nbash --noprofile --norc ./push.sh >> job.log 2>&1`,
        { env: pushEnv },
      );
      ctx.logger.info(`pushed what the run made before stopping (exit ${result.exitCode})`);
    };
    result = await runPipeline(
      { ...options, runId },
      withTarget(ctx, ssh, controller.signal, executor),
    );
  } catch (error) {
    failure = await explainFailure(error);
  } finally {
    clearInterval(budget);
    // Stopped for cost: what was rendered reaches storage before the pod goes.
    if (overBudget) await pushWhatExists().catch(() => {});
    await stopHeartbeat();
    ctx.signal.removeEventListener("abort", onAbort);
  }
  /** Cost caps and a pod that went away (its watchdog, RunPod's console) get plain messages. */
  async function explainFailure(error: unknown): Promise<unknown> {
    const usd = ((Date.now() - billedFrom) / 3_600_000) * costPerHour;
    if (overBudget || usd >= target.maxRunCost) {
      return new UserError(
        `Run ${runId} stopped: it reached maxRunCost ($${target.maxRunCost}) on pod ${pod.id}. Raise maxRunCost in target \`${provider.targetName}\` for bigger runs.`,
        { cause: error },
      );
    }
    if (isAbortError(error)) return error;
    const now = await provider.cleanupClient.getPod(pod.id).catch(() => pod);
    if (!now || now.status === "TERMINATED" || now.status === "EXITED") {
      return new UserError(
        `Pod ${pod.id} was ${now?.status.toLowerCase() ?? "deleted"} during run ${runId}: its watchdog ends it after maxHours (${target.maxHours} h) or maxRunCost, or it was stopped in RunPod's console. What the job pushed is in storage: \`posefactory download ${runId}\`.`,
        { cause: error },
      );
    }
    return error;
  }
  const detached = result?.status === "detached";
  let end: "terminated" | "kept" | "left-to-watchdog" = "kept";
  if (terminateAtEnd && !detached) {
    await executor.close().catch(() => {});
    try {
      await terminatePod(provider, pod.id, `run ${runId} ended (lifetime: run)`);
      end = "terminated";
    } catch (error) {
      ctx.logger.error(
        `could not terminate pod ${pod.id}: ${(error as Error).message}; its watchdog terminates it after idleMinutes, or run \`posefactory pod down ${pod.id}\``,
      );
      end = "left-to-watchdog";
    }
  } else {
    if (detached) end = "left-to-watchdog";
    await executor.close().catch(() => {});
  }
  const record = recordPod(ctx, runId, pod, target, {
    costPerHour,
    seconds: (Date.now() - billedFrom) / 1000,
    end,
  });
  if (failure) throw failure;
  return {
    ...result!,
    record: record ?? result!.record,
    lines: record && !detached ? formatPipelineSummary(record) : result!.lines,
  };
}

/** The ssh target fields a runpod target implies (its host comes from the pod). */
function sshShape(target: RunpodTargetConfig): SshTargetConfig {
  return {
    executor: "ssh",
    host: "",
    hostKey: "accept-new",
    workdir: target.workdir,
    blender: target.blender,
    python: target.python,
    connectTimeoutSeconds: 60,
    storage: target.storage,
  };
}

/** The same context with the pod as its (ssh) target and executor, and a signal of our own. */
function withTarget(
  ctx: Context,
  ssh: SshTargetConfig,
  signal: AbortSignal,
  executor?: import("../remote/types.js").Executor,
): Context {
  return {
    ...ctx,
    resolved: { ...ctx.resolved, target: ssh },
    signal,
    executor: executor ? () => Promise.resolve(executor) : ctx.executor,
  };
}

function recordPod(
  ctx: Context,
  runId: string,
  pod: Pod,
  target: RunpodTargetConfig,
  usage: { costPerHour: number; seconds: number; end: "terminated" | "kept" | "left-to-watchdog" },
) {
  const dataDir = resolveUserPath(ctx.resolved.config.data, ctx.resolved.baseDir);
  const record = readRunRecord(dataDir, runId);
  if (!record) return undefined;
  const seconds = Math.round(usage.seconds * 10) / 10;
  const hours = seconds / 3600;
  const usd = hours * usage.costPerHour;
  record.target.executor = "runpod";
  record.pod = {
    id: pod.id,
    name: pod.name,
    gpuType: pod.gpu?.id ?? target.gpuTypes[0]!,
    dataCenter: pod.dataCenterId ?? null,
    costPerHour: usage.costPerHour,
    seconds,
    usd,
    lifetime: target.lifetime,
    end: usage.end,
  };
  record.cost = { usd, hours, costPerHour: usage.costPerHour };
  writeRunRecord(dataDir, record);
  return record;
}

export type { PodProvider };
