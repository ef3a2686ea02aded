/**
 * `posefactory pipeline`: upload -> render (+ detect on the host) -> download -> reuse ->
 * detect (web) -> report, as titled steps that reuse the single commands' functions, over one
 * executor (one SSH connection on an ssh target). Every step is recorded in
 * data/runs/<runId>/run.json, so `--resume <runId>` continues from the first unfinished one.
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import type { Context } from "../context.js";
import { isAbortError } from "../errors.js";
import { describeShards } from "../jobs/slurm.js";
import { readManifestFile } from "../run/manifest.js";
import { type InputPart, RunFiles, runKey } from "../run/paths.js";
import { finishRun } from "./finish.js";
import { planRun } from "./plan.js";
import { assertPreflight, needsOf, preflightSkips, runPreflight } from "./preflight.js";
import { buildRenderJob, runRenderStep } from "./render-step.js";
import { runReuseStep } from "./reuse-step.js";
import { writeRunRecord } from "./run-record.js";
import { hasShardsToRedo, planRunShards } from "./slurm-step.js";
import {
  DETACHED,
  type PipelineOptions,
  type PipelineResult,
  type State,
  type StepId,
  toRenderOf,
} from "./state.js";
import { runSteps, type Step } from "./steps.js";
import { formatPipelineSummary } from "./summary.js";

export { detectPlace, type PipelineOptions, type PipelineResult, type StepId } from "./state.js";

export async function runPipeline(options: PipelineOptions, ctx: Context): Promise<PipelineResult> {
  const state = await planRun(options, ctx);
  const toRender = state.characters.filter((c) => !c.reuseFrom);
  const steps = buildSteps(options).filter(
    (step) => !options.steps || options.steps.includes(step.id as StepId),
  );
  if (options.dryRun) {
    const lines = [`plan for run ${state.runId} on ${ctx.resolved.targetName}:`];
    for (const c of state.characters)
      lines.push(
        `  ${c.reuseFrom ? `reuse ${c.name} from run ${c.reuseFrom}` : `render ${c.name} (${c.fileName})`}`,
      );
    for (const step of steps) {
      const reason = !step.enabled(state) ? "not used by this target" : step.skip?.(state);
      lines.push(`${step.title}: ${reason ? `skipped (${reason})` : ""}`);
      if (!reason && step.plan) lines.push(...(await step.plan(state)).map((l) => `  ${l}`));
    }
    return { runId: state.runId, status: "planned", exitCode: 0, lines };
  }

  const save = () => writeRunRecord(state.dataDir, state.record);
  const done = new Set(
    state.record.steps
      .filter((s) => s.status === "done" || s.status === "skipped")
      .map((s) => s.id),
  );
  // A Slurm run with failed shards renders them again, then downloads, detects and reports again.
  if (options.resume && hasShardsToRedo(state.record.slurm))
    for (const id of ["render", "download", "reuse", "detect", "report"]) done.delete(id);
  // A render step to do again (e.g. only its detection failed on the host) makes the steps
  // after it run again too: they continue from what the earlier attempt delivered.
  if (options.resume && !done.has("render"))
    for (const id of ["download", "reuse", "detect", "report"]) done.delete(id);
  const renderPending =
    steps.some((s) => s.id === "render") && !(options.resume && done.has("render"));
  if (renderPending && toRender.length > 0 && state.target.executor === "ssh") {
    // Before anything is uploaded or rendered: refuse a host that lacks a part (exit 2).
    // While the host answers, the upload is planned (local hashes and one listing of storage:
    // reads only), so the upload step only sends. An error there waits for the upload step,
    // which reports it: a host's problem is still reported first.
    // Connecting first: its module loads before the storage code does.
    void state.executor().catch(() => undefined);
    const uploadPending =
      steps.some((s) => s.id === "upload") && !(options.resume && done.has("upload"));
    state.upload = uploadPending
      ? import("../storage/commands.js").then((m) => m.prepareUpload({}, ctx, state.hashCache))
      : undefined;
    state.upload?.catch(() => undefined);
    await checkTargetReady(state);
  }
  ctx.logger.info(
    `run ${state.runId}: ${toRender.length} to render, ${state.characters.length - toRender.length} reused, on ${ctx.resolved.targetName}`,
  );
  try {
    await runSteps(steps, state, {
      logger: ctx.logger,
      record: state.record,
      save,
      done: options.resume ? done : undefined,
    });
  } catch (error) {
    if (error === DETACHED) {
      state.record.status = "running";
      save();
      return {
        runId: state.runId,
        status: "detached",
        record: state.record,
        exitCode: 0,
        lines: [
          `run ${state.runId} is rendering on ${ctx.resolved.targetName}; follow it with:`,
          `  posefactory logs ${state.runId} -f`,
          `  posefactory pipeline --resume ${state.runId}   (waits for it, then downloads, detects and reports)`,
        ],
      };
    }
    state.record.status = isAbortError(error) ? "interrupted" : "failed";
    save();
    throw error;
  }
  await finishRun(state);
  const failure = state.record.hostFailure;
  if (failure) {
    // Delivered, but not finished: the render step is what `--resume` runs again.
    const render = state.record.steps.find((s) => s.id === "render");
    if (render) Object.assign(render, { status: "failed", error: failure.fix });
    if (state.record.status === "ok") state.record.status = "partial";
  }
  save();
  const failed = state.record.characters.filter((c) => c.status !== "ok").length;
  return {
    runId: state.runId,
    status: state.record.status,
    record: state.record,
    exitCode: failed > 0 || state.record.status !== "ok" ? 1 : 0,
    lines: formatPipelineSummary(state.record),
  };
}

async function checkTargetReady(s: State): Promise<void> {
  const { ctx } = s;
  const executor = await s.executor();
  // The backgrounds and animations the job pulls take disk on the host as the characters do.
  const { inputFolders } = await import("../storage/commands.js");
  const dirs = new Map(inputFolders(s.config, ctx.resolved.baseDir).map((f) => [f.part, f.dir]));
  const assets = s.inputFiles
    .filter((f) => f.startsWith("backgrounds/") || f.startsWith("animations/"))
    .map((f) => {
      const [part, ...rest] = f.split("/");
      return join(dirs.get(part as InputPart) ?? "", ...rest);
    });
  const inputBytes = (
    await Promise.all([...toRenderOf(s).map((c) => c.file), ...assets].map((f) => stat(f)))
  ).reduce((n, st) => n + st.size, 0);
  const needs = needsOf(s.config, s.target, { count: toRenderOf(s).length, inputBytes });
  const checks = await runPreflight(executor, needs, { signal: ctx.signal, runFollows: true });
  const skip = preflightSkips(ctx.env);
  for (const c of checks.filter((c) => !c.ok && skip.includes(c.name.replace(/^remote /, ""))))
    ctx.logger.warn(`preflight: ${c.name} skipped (POSEFACTORY_PREFLIGHT_SKIP): ${c.detail}`);
  assertPreflight(checks, `Target \`${ctx.resolved.targetName}\` (${executor.description})`, skip);
  // The render job starts in the preflight's shell (runAhead), which waits for it while the
  // upload runs. Where there is no such shell (an executor without runAhead), the job's shell
  // starts now, while the upload runs; not during the preflight: on a busy host both login
  // shells' rc files would compete, and the preflight is what the user waits for.
  executor.prepareRun?.();
  ctx.logger.info(
    `preflight on ${executor.description}: ${checks.map((c) => `${c.name.replace(/^remote /, "")} ${c.ok ? "ok" : "skipped"}`).join(", ")}`,
  );
}

function buildSteps(options: PipelineOptions): Step<State>[] {
  return [
    {
      id: "upload",
      title: "Upload inputs",
      enabled: (s) => s.target.executor === "ssh" || s.target.executor === "slurm",
      skip: (s) => (toRenderOf(s).length === 0 ? "nothing to render" : undefined),
      async run(s) {
        const { prepareUpload, runUpload } = await import("../storage/commands.js");
        // Planned during the preflight (ssh), else now; either way with the run's hash cache:
        // a second instance would save its stale copy over this one's changes.
        const prepared = s.upload ?? prepareUpload({}, s.ctx, s.hashCache);
        s.upload = undefined;
        const result = await runUpload({}, s.ctx, prepared);
        s.record.counts.uploaded += result.uploaded;
        return `${result.uploaded} uploaded, ${result.skipped} unchanged`;
      },
      async plan(s) {
        const { prepareUpload, runUpload } = await import("../storage/commands.js");
        const result = await runUpload(
          { dryRun: true },
          s.ctx,
          prepareUpload({}, s.ctx, s.hashCache),
        );
        return result.plan.uploads.length > 0
          ? result.plan.uploads.map((u) => `put ${u.key} (${u.size} bytes, ${u.reason})`)
          : ["nothing to upload"];
      },
    },
    {
      id: "render",
      title: "Render",
      enabled: () => true,
      skip: (s) => (toRenderOf(s).length === 0 ? "every character reused" : undefined),
      run: (s) => runRenderStep(s, options),
      async plan(s) {
        if (s.target.executor === "slurm")
          return describeShards(s.record.slurm ?? planRunShards(s));
        const { job, hostJob } = buildRenderJob(s);
        const env = hostJob.env ?? {};
        return [
          `job.json: ${JSON.stringify(job)}`,
          `environment: ${Object.keys(env).join(", ") || "(none)"}`,
          ...(env.PF_STEPS ? [`steps: ${env.PF_STEPS}`] : []),
          ...hostJob.script
            .trimEnd()
            .split("\n")
            .map((l) => `| ${l}`),
        ];
      },
    },
    {
      id: "download",
      title: "Download results",
      enabled: (s) => s.target.executor === "ssh" || s.target.executor === "slurm",
      skip: (s) => (toRenderOf(s).length === 0 ? "nothing was rendered" : undefined),
      async run(s) {
        const { runDownload } = await import("../storage/commands.js");
        const result = await runDownload(s.runId, {}, s.ctx, s.hashCache);
        s.record.counts.downloaded += result.downloaded;
        s.manifest = readManifestFile(join(s.localRunDir, RunFiles.manifest));
        return `${result.downloaded} files, ${result.verified} verified by sha256`;
      },
      plan: async (s) => [
        `get ${runKey((await s.ctx.storage()).prefix, s.runId)}/ -> ${s.localRunDir}`,
      ],
    },
    {
      id: "reuse",
      title: "Reuse earlier renders",
      enabled: () => true,
      skip: (s) => (s.characters.some((c) => c.reuseFrom) ? undefined : "nothing to reuse"),
      run: (s) => runReuseStep(s),
      plan: async (s) =>
        s.characters.filter((c) => c.reuseFrom).map((c) => `${c.name} <- run ${c.reuseFrom}`),
    },
    {
      id: "detect",
      title: "Detect poses",
      enabled: (s) => s.detect === "local",
      async run(s) {
        // The browser and sharp load only when a step needs them.
        const { runDetect } = await import("../detect/run.js");
        const result = await runDetect(s.localRunDir, {}, s.ctx);
        s.record.versions.mediapipe = `${result.model.name} ${result.model.version}`;
        return `${result.detected} detected, ${result.found} with a pose, ${result.skipped} already done`;
      },
      plan: async (s) => [
        `MediaPipe (${s.config.detect.model}) in Chromium on ${s.localRunDir}/renders`,
      ],
    },
    {
      id: "report",
      title: "Evaluate and report",
      enabled: (s) => s.detect !== "none" && s.config.outputs.keypoints,
      skip: (s) =>
        s.record.hostFailure ? "no detections: detection failed on the host" : undefined,
      async run(s) {
        const { runReport } = await import("../detect/run.js");
        const result = await runReport(
          s.localRunDir,
          { title: `posefactory run ${s.runId}` },
          s.ctx,
        );
        s.record.results.report = result.reportPath;
        s.record.results.evaluation = result.evaluationPath;
        for (const c of s.record.characters) {
          const summary = result.evaluation.perCharacter[c.name];
          if (!summary) continue;
          c.detectionRate = summary.detectionRate;
          const pck = summary.visible.pck as Record<string, number | null>;
          const pck10 = pck["0.1"];
          if (typeof pck10 === "number") c.pck10 = pck10;
        }
        if (!s.record.versions.mediapipe && result.evaluation.detectors[0])
          s.record.versions.mediapipe = result.evaluation.detectors[0];
        return result.reportPath;
      },
      plan: async (s) => [`${s.localRunDir}/evaluation.json, ${s.localRunDir}/report.html`],
    },
  ];
}
