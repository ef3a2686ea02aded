/**
 * Library entry points of detection on a local run folder:
 *   runDetect: every render -> detections/...json with the web backend (one browser, one model);
 *   runReport: detections + annotations -> evaluation.json, overlays, sheets, report.html.
 */
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { resolveUserPath } from "../config/credentials.js";
import type { Context } from "../context.js";
import { InterruptedError, UserError } from "../errors.js";
import { isValidRunId } from "../run/id.js";
import { readManifestFile } from "../run/manifest.js";
import { localRunDir, localRunsDir, RunFiles } from "../run/paths.js";
import { type Evaluation, evaluateRun, formatEvaluationTable, type Summary } from "./evaluate.js";
import { type ResolvedModel, resolvePoseModel } from "./model.js";
import { buildReport } from "./report.js";
import { openWebDetector, readExistingDetection, writeDetection } from "./web.js";

/** Render file names the detectors read: f0001.png (masks, depth and normals are skipped). */
const RENDER_NAME = /^f\d+\.(png|jpe?g)$/i;

/** `<config.data>/runs/<runId>`; without an id, the latest run (ids sort by time). */
export async function resolveLocalRunDir(
  runId: string | undefined,
  ctx: Context,
): Promise<{ runId: string; runDir: string }> {
  const { config, baseDir } = ctx.resolved;
  const dataDir = resolveUserPath(config.data, baseDir);
  const runsDir = localRunsDir(dataDir);
  if (runId !== undefined) {
    const runDir = localRunDir(dataDir, runId);
    if (!existsSync(runDir)) {
      throw new UserError(
        `Run ${runId} is not in ${runsDir}: download it first (posefactory download ${runId}) or list runs with \`posefactory runs\`.`,
      );
    }
    return { runId, runDir };
  }
  const entries = await readdir(runsDir, { withFileTypes: true }).catch(() => []);
  const latest = entries
    .filter((e) => e.isDirectory() && isValidRunId(e.name))
    .map((e) => e.name)
    .sort()
    .at(-1);
  if (!latest) {
    throw new UserError(
      `No runs in ${runsDir}: render one (posefactory render) or download one (posefactory download).`,
    );
  }
  return { runId: latest, runDir: join(runsDir, latest) };
}

async function walkRenders(dir: string, root: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await walkRenders(path, root, out);
    else if (RENDER_NAME.test(entry.name)) out.push(relative(root, path).split(sep).join("/"));
  }
}

/**
 * The images to detect, relative to the run folder: manifest.json's list when there is one
 * (failed characters have none), else every renders/**\/fNNNN.png.
 */
export async function listRenderImages(runDir: string): Promise<string[]> {
  const manifest = readManifestFile(join(runDir, RunFiles.manifest));
  if (manifest) {
    const images = manifest.characters.flatMap((c) => c.images.map((i) => i.path));
    const present = images.filter((p) => existsSync(join(runDir, p)));
    if (present.length > 0) return present.sort();
  }
  const out: string[] = [];
  await walkRenders(join(runDir, RunFiles.renders), runDir, out);
  return out.sort();
}

export interface DetectOptions {
  /** Re-detect images that already have a detection from the same model. */
  force?: boolean;
  /** Only these images (relative to the run folder); default: all renders. */
  images?: string[];
}

export interface DetectResult {
  runDir: string;
  images: number;
  detected: number;
  found: number;
  skipped: number;
  model: Pick<ResolvedModel, "name" | "version" | "sha256" | "source" | "path">;
  seconds: {
    total: number;
    browser: number;
    model: number;
    detect: number;
    perImage: number | null;
  };
  /** The further models of detect.models, each into detections-<model>/. */
  others?: {
    variant: string;
    detections: string;
    detected: number;
    found: number;
    skipped: number;
    model: DetectResult["model"];
    seconds: DetectResult["seconds"];
  }[];
}

/**
 * Every render through detect.model into detections/, then through each further model of
 * detect.models into detections-<model>/ (the same images, so evaluation.json compares them).
 */
export async function runDetect(
  runDir: string,
  options: DetectOptions,
  ctx: Context,
): Promise<DetectResult> {
  const detectConfig = ctx.resolved.config.detect;
  const images = options.images ?? (await listRenderImages(runDir));
  if (images.length === 0) {
    throw new UserError(
      `No renders in ${join(runDir, RunFiles.renders)}: render the run first (posefactory render).`,
    );
  }
  const main = await detectWithModel(
    runDir,
    images,
    detectConfig.model,
    RunFiles.detections,
    options,
    ctx,
  );
  const extra = (detectConfig.models ?? []).filter((m) => m !== detectConfig.model);
  if (extra.length === 0) return main;
  main.others = [];
  for (const variant of extra) {
    const root = `${RunFiles.detections}-${variant}`;
    const other = await detectWithModel(runDir, images, variant, root, options, ctx);
    main.others.push({
      variant,
      detections: root,
      detected: other.detected,
      found: other.found,
      skipped: other.skipped,
      model: other.model,
      seconds: other.seconds,
    });
  }
  return main;
}

async function detectWithModel(
  runDir: string,
  images: string[],
  variant: "lite" | "full" | "heavy",
  root: string,
  options: DetectOptions,
  ctx: Context,
): Promise<DetectResult> {
  const started = performance.now();
  const { logger } = ctx;
  const detectConfig = ctx.resolved.config.detect;
  const model = await resolvePoseModel({
    variant,
    // A modelPath replaces detect.model only; the comparison models are the official ones.
    modelPath: root === RunFiles.detections ? detectConfig.modelPath : undefined,
    baseDir: ctx.resolved.baseDir,
    logger,
    env: ctx.env,
  });
  const todo: string[] = [];
  let found = 0;
  for (const image of images) {
    const existing = options.force ? undefined : await readExistingDetection(runDir, image, root);
    if (existing && existing.model.sha256 === model.sha256) {
      if (existing.found) found++;
      continue;
    }
    todo.push(image);
  }
  const skipped = images.length - todo.length;
  const result: DetectResult = {
    runDir,
    images: images.length,
    detected: 0,
    found,
    skipped,
    model: {
      name: model.name,
      version: model.version,
      sha256: model.sha256,
      source: model.source,
      path: model.path,
    },
    seconds: { total: 0, browser: 0, model: 0, detect: 0, perImage: null },
  };
  if (todo.length === 0) {
    logger.info(
      { skipped },
      "every image already has a detection from this model (use --force to redo)",
    );
    result.seconds.total = (performance.now() - started) / 1000;
    return result;
  }
  const detector = await openWebDetector({
    model,
    root: runDir,
    browser: detectConfig.browser,
    minPoseDetectionConfidence: detectConfig.minPoseDetectionConfidence,
    minPosePresenceConfidence: detectConfig.minPosePresenceConfidence,
    logger,
  });
  result.seconds.browser = detector.startup.browserSeconds;
  result.seconds.model = detector.startup.modelSeconds;
  logger.info(
    {
      images: todo.length,
      skipped,
      model: model.name,
      source: model.source,
      browser: detector.executablePath,
    },
    "detecting poses (web backend)",
  );
  const detectStarted = performance.now();
  let lastLog = detectStarted;
  try {
    // Keep every landmarker busy: detections finish (and are written) in any order.
    let next = 0;
    let failed = false;
    const worker = async () => {
      while (next < todo.length && !failed) {
        if (ctx.signal.aborted) throw new InterruptedError();
        const image = todo[next++]!;
        const detection = await detector.detect(image);
        await writeDetection(runDir, detection, root);
        result.detected++;
        if (detection.found) result.found++;
        const now = performance.now();
        if (now - lastLog > 5000) {
          lastLog = now;
          logger.info(
            `detect ${Math.round((100 * result.detected) / todo.length)}% (${result.detected} of ${todo.length} images)`,
          );
        }
      }
    };
    const workers = Array.from({ length: Math.min(detector.parallelism, todo.length) }, () =>
      worker().catch((error: unknown) => {
        failed = true;
        throw error;
      }),
    );
    const settled = await Promise.allSettled(workers);
    const rejected = settled.find((s) => s.status === "rejected");
    if (rejected) throw (rejected as PromiseRejectedResult).reason;
  } finally {
    await detector.close();
  }
  result.seconds.detect = (performance.now() - detectStarted) / 1000;
  result.seconds.perImage = result.seconds.detect / Math.max(1, result.detected);
  result.seconds.total = (performance.now() - started) / 1000;
  return result;
}

export interface ReportResultSummary {
  runDir: string;
  evaluationPath: string;
  reportPath: string;
  overall: Summary;
  table: string;
  warnings: string[];
  evaluation: Evaluation;
}

export interface ReportOptions {
  /** Page title; default: the run folder's name. */
  title?: string;
}

export async function runReport(
  runDir: string,
  options: ReportOptions,
  ctx: Context,
): Promise<ReportResultSummary> {
  const evaluation = await evaluateRun(runDir);
  for (const warning of evaluation.warnings) ctx.logger.warn(warning);
  const report = await buildReport(runDir, evaluation, { title: options.title });
  ctx.logger.debug({ overlays: report.overlays, sheets: report.sheets }, "report written");
  return {
    runDir,
    evaluationPath: join(runDir, RunFiles.evaluation),
    reportPath: report.html,
    overall: evaluation.overall,
    table: formatEvaluationTable(evaluation),
    warnings: evaluation.warnings,
    evaluation,
  };
}
