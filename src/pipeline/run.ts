/**
 * `posefactory pipeline`: upload -> render (+ detect on the host) -> download -> reuse ->
 * detect (web) -> report, as titled steps that reuse the single commands' functions, over one
 * executor (one SSH connection on an ssh target). Every step is recorded in
 * data/runs/<runId>/run.json, so `--resume <runId>` continues from the first unfinished one.
 */
import { existsSync } from "node:fs";
import { join, posix } from "node:path";
import { loadS3Credentials, resolveUserPath } from "../config/credentials.js";
import type { Config, S3StorageConfig, TargetConfig } from "../config/schema.js";
import type { Context } from "../context.js";
import { runDetect, runReport } from "../detect/run.js";
import { InterruptedError, isAbortError, UsageError, UserError } from "../errors.js";
import {
  attachJob,
  getJobStatus,
  type JobStatus,
  resolveJobDir,
  startJob,
} from "../remote/jobs.js";
import type { Executor } from "../remote/types.js";
import { forwardLine, lineSplitter, parseManifest } from "../render/blender.js";
import { buildJob, type CharacterFile, listCharacterFiles } from "../render/job.js";
import type { CharacterResult, Manifest } from "../render/manifest.js";
import { createRunId, isValidRunId } from "../render/run-id.js";
import { BLENDER_DIR } from "../render/sample.js";
import { runUpload } from "../storage/commands.js";
import { downloadPrefix } from "../storage/sync.js";
import { joinKey } from "../storage/types.js";
import { VERSION } from "../version.js";
import {
  canonicalJson,
  detectRelevantConfig,
  hashFolder,
  renderKey,
  sha256Hex,
} from "./cache-key.js";
import { verifyChecksums } from "./checksums.js";
import {
  buildLocalJobScript,
  buildRcloneEnv,
  buildSshJobScript,
  hostInputsDir,
} from "./host-script.js";
import {
  type CacheIndex,
  findCharacterResult,
  linkTree,
  readCacheIndex,
  readManifestFile,
  writeCacheIndex,
  writeMergedManifest,
} from "./reuse.js";
import {
  runDir as localRunDirOf,
  type RunRecord,
  readRunRecord,
  writeRunRecord,
} from "./run-record.js";
import { runSteps, type Step } from "./steps.js";
import { formatPipelineSummary } from "./summary.js";

export interface PipelineOptions {
  /** Render every character even when an earlier render is reusable. */
  force?: boolean;
  /** Continue this run from its first unfinished step. */
  resume?: string;
  /** Print the plan; change nothing. */
  dryRun?: boolean;
  /** Start the render job and return; `pipeline --resume <runId>` finishes it later. */
  detach?: boolean;
  /** Run only these steps (the single commands: `render` is ["upload", "render"]). */
  steps?: StepId[];
  /** Use this run id for a new run (default: time + random). */
  runId?: string;
}

export type StepId = "upload" | "render" | "download" | "reuse" | "detect" | "report";

export interface PipelineResult {
  runId: string;
  status: RunRecord["status"] | "planned" | "detached";
  record?: RunRecord;
  exitCode: number;
  lines: string[];
}

/** Where detection runs: python on the render host, web (Chromium) here, or not at all. */
export type DetectPlace = "host" | "local" | "none";

export function detectPlace(config: Config, target: TargetConfig): DetectPlace {
  if (!config.detect.enabled) return "none";
  const backend =
    config.detect.backend === "auto"
      ? target.executor === "ssh"
        ? "python"
        : "web"
      : config.detect.backend;
  if (backend === "web") return "local";
  return target.executor === "ssh" ? "host" : "local";
}

interface PlannedCharacter extends CharacterFile {
  /** File name inside the characters folder (= the key under inputs/characters/). */
  fileName: string;
  key: string;
  reuseFrom?: string;
}

interface State {
  ctx: Context;
  config: Config;
  target: TargetConfig;
  runId: string;
  dataDir: string;
  stateDir: string;
  localRunDir: string;
  detect: DetectPlace;
  characters: PlannedCharacter[];
  record: RunRecord;
  manifest?: Manifest;
  jobStatus?: JobStatus;
  detached?: boolean;
  executor(): Promise<Executor>;
}

const STEPS: { id: string; title: string }[] = [
  { id: "upload", title: "Upload inputs" },
  { id: "render", title: "Render" },
  { id: "download", title: "Download results" },
  { id: "reuse", title: "Reuse earlier renders" },
  { id: "detect", title: "Detect poses" },
  { id: "report", title: "Evaluate and report" },
];

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

const DETACHED = Symbol("detached");

async function planRun(options: PipelineOptions, ctx: Context): Promise<State> {
  const { config, target, targetName, baseDir } = ctx.resolved;
  if (target.executor === "ssh" && target.storage.type !== "s3") {
    throw new UsageError(
      `Target \`${targetName}\` runs over ssh but its storage is a local folder the host cannot reach: give it \`storage: {type: s3, ...}\``,
    );
  }
  const dataDir = resolveUserPath(config.data, baseDir);
  const stateDir = join(baseDir, ".posefactory");
  const detect = detectPlace(config, target);
  const previous = options.resume ? readRunRecord(dataDir, options.resume) : undefined;
  if (options.resume && !previous) {
    throw new UsageError(
      `No run ${options.resume} in ${join(dataDir, "runs")}: see \`posefactory runs\``,
    );
  }
  if (options.resume && !isValidRunId(options.resume))
    throw new UsageError(`Invalid run id ${options.resume}`);
  if (options.runId && !isValidRunId(options.runId)) {
    throw new UsageError(
      `Run id \`${options.runId}\` is not valid: use letters, digits, '.', '_' and '-' (e.g. 20261125-083012-a1b2c3)`,
    );
  }
  const runId = previous?.runId ?? options.runId ?? createRunId();

  const charactersDir = resolveUserPath(config.characters, baseDir);
  const files = await listCharacterFiles(charactersDir);
  if (files.length === 0) {
    throw new UserError(
      `No character files (.fbx, .glb, .gltf, .blend) in ${charactersDir}: add some, or run \`posefactory sample\``,
    );
  }
  // The python detector runs inside the render job, so its settings are part of the key.
  const blenderHash = hashFolder(BLENDER_DIR);
  const scriptsKey =
    detect === "host"
      ? sha256Hex(blenderHash + canonicalJson(detectRelevantConfig(config)))
      : blenderHash;
  const cache = readCacheIndex(stateDir);
  const characters = files.map((file): PlannedCharacter => {
    const key = renderKey(file.sha256, config, scriptsKey);
    const fileName = file.file.slice(charactersDir.length).replace(/^[/\\]+/, "");
    const earlier = previous?.characters.find((c) => c.name === file.name);
    if (earlier) return { ...file, fileName, key, reuseFrom: earlier.reusedFrom };
    return {
      ...file,
      fileName,
      key,
      reuseFrom: options.force ? undefined : reusableRun(cache, key, dataDir, target),
    };
  });

  const record: RunRecord = previous ?? {
    version: 1,
    runId,
    createdAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
    status: "running",
    target: {
      name: targetName,
      executor: target.executor,
      storage:
        target.storage.type === "s3"
          ? `s3://${target.storage.bucket}/${target.storage.prefix}`
          : target.storage.path,
    },
    configPath: ctx.resolved.path ?? null,
    configHash: sha256Hex(canonicalJson(config)),
    blenderHash,
    versions: { posefactory: VERSION },
    steps: STEPS.map((s) => ({ ...s, status: "pending" as const })),
    characters: characters.map((c) => ({
      name: c.name,
      file: c.fileName,
      sha256: c.sha256,
      renderKey: c.key,
      status: "pending" as const,
      images: 0,
      ...(c.reuseFrom ? { reusedFrom: c.reuseFrom } : {}),
    })),
    counts: { imagesRendered: 0, imagesReused: 0, uploaded: 0, downloaded: 0 },
    results: { dir: localRunDirOf(dataDir, runId) },
  };
  record.status = "running";
  return {
    ctx,
    config,
    target,
    runId,
    dataDir,
    stateDir,
    localRunDir: localRunDirOf(dataDir, runId),
    detect,
    characters,
    record,
    executor: () => ctx.executor(),
  };
}

/** An earlier run holding this render: its local folder, or (ssh) its keys in storage. */
function reusableRun(
  cache: CacheIndex,
  key: string,
  dataDir: string,
  target: TargetConfig,
): string | undefined {
  const entry = cache[key];
  if (!entry) return undefined;
  if (
    existsSync(
      join(localRunDirOf(dataDir, entry.runId), "renders", entry.character, "annotations.json"),
    )
  )
    return entry.runId;
  return target.executor === "ssh" ? entry.runId : undefined;
}

function toRenderOf(state: State): PlannedCharacter[] {
  return state.characters.filter((c) => !c.reuseFrom);
}

function buildSteps(options: PipelineOptions): Step<State>[] {
  return [
    {
      id: "upload",
      title: "Upload inputs",
      enabled: (s) => s.target.executor === "ssh",
      skip: (s) => (toRenderOf(s).length === 0 ? "nothing to render" : undefined),
      async run(s) {
        const result = await runUpload({}, s.ctx);
        s.record.counts.uploaded += result.uploaded;
        return `${result.uploaded} uploaded, ${result.skipped} unchanged`;
      },
      async plan(s) {
        const result = await runUpload({ dryRun: true }, s.ctx);
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
        const { job, script, env } = buildRenderJob(s);
        return [
          `job.json: ${JSON.stringify(job)}`,
          `environment: ${Object.keys(env).join(", ") || "(none)"}`,
          ...script
            .trimEnd()
            .split("\n")
            .map((l) => `| ${l}`),
        ];
      },
    },
    {
      id: "download",
      title: "Download results",
      enabled: (s) => s.target.executor === "ssh",
      skip: (s) => (toRenderOf(s).length === 0 ? "nothing was rendered" : undefined),
      async run(s) {
        const storage = await s.ctx.storage();
        const result = await downloadPrefix(
          storage,
          `${joinKey(storage.prefix, "runs", s.runId)}/`,
          s.localRunDir,
          {
            stateDir: s.stateDir,
            concurrency: s.config.sync.concurrency,
            signal: s.ctx.signal,
            logger: s.ctx.logger,
          },
        );
        s.record.counts.downloaded += result.downloaded;
        const verified = await verifyChecksums(s.localRunDir);
        s.manifest = readManifestFile(join(s.localRunDir, "manifest.json"));
        return `${result.downloaded} files, ${verified} verified by sha256`;
      },
      plan: async (s) => [
        `get ${joinKey((await s.ctx.storage()).prefix, "runs", s.runId)}/ -> ${s.localRunDir}`,
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
      async run(s) {
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

function buildRenderJob(s: State): {
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

async function runRenderStep(s: State, options: PipelineOptions): Promise<string> {
  const { ctx } = s;
  const executor = await s.executor();
  const { job, jobDir, script, env } = buildRenderJob(s);
  let status = options.resume ? await getJobStatus(executor, jobDir, ctx.signal) : undefined;
  if (!status || status.state === "failed" || status.state === "stopped") {
    // job.json goes next to the renders on the local target, into the job folder on a host.
    const jobPath =
      s.target.executor === "local"
        ? join(s.localRunDir, "job.json")
        : posix.join(jobDir, "job.json");
    await executor.writeFile(jobPath, `${JSON.stringify(job, null, 2)}\n`);
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
  s.jobStatus = status;
  if (status.state === "stopped") throw new InterruptedError("the render job was stopped");
  if (status.seconds !== null && s.target.costPerHour !== undefined) {
    const hours = status.seconds / 3600;
    s.record.cost = { hours, costPerHour: s.target.costPerHour, usd: hours * s.target.costPerHour };
  }
  // 0: every character rendered; 1: some failed (the manifest says which); more: the job broke.
  if (status.exitCode !== 0 && status.exitCode !== 1) {
    const log = await executor.readFile(posix.join(jobDir, "job.log")).catch(() => undefined);
    const tail = log?.toString("utf8").trimEnd().split("\n").slice(-15).join("\n") ?? "";
    throw new UserError(
      `The render job on ${executor.description} failed with exit code ${status.exitCode}${exitHint(status.exitCode)}; its log ends with:\n${tail}\n(full log: posefactory logs ${s.runId})`,
    );
  }
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

async function runReuseStep(s: State): Promise<string> {
  const reused: CharacterResult[] = [];
  let files = 0;
  for (const c of s.characters.filter((x) => x.reuseFrom)) {
    const from = localRunDirOf(s.dataDir, c.reuseFrom!);
    if (existsSync(join(from, "renders", c.name))) {
      files += await linkTree(
        join(from, "renders", c.name),
        join(s.localRunDir, "renders", c.name),
      );
      // Detections made by the same model are reused too; the detect step fills any gap.
      files += await linkTree(
        join(from, "detections", c.name),
        join(s.localRunDir, "detections", c.name),
      );
    } else {
      const storage = await s.ctx.storage();
      for (const part of ["renders", "detections"]) {
        const result = await downloadPrefix(
          storage,
          `${joinKey(storage.prefix, "runs", c.reuseFrom!, part, c.name)}/`,
          join(s.localRunDir, part, c.name),
          {
            stateDir: s.stateDir,
            signal: s.ctx.signal,
            logger: s.ctx.logger,
          },
        );
        files += result.downloaded;
      }
      const manifest = await storageManifest(s, c.reuseFrom!);
      const entry = manifest?.characters.find((m) => m.name === c.name);
      if (entry) reused.push(entry);
      continue;
    }
    const entry = findCharacterResult(from, c.name);
    if (entry) reused.push(entry);
  }
  const fallback =
    reused.length > 0
      ? {
          blenderVersion: s.record.versions.blender ?? "unknown",
          device: { type: "reused", names: [] },
        }
      : undefined;
  s.manifest = await writeMergedManifest(
    s.localRunDir,
    s.manifest,
    reused,
    fallback ?? { blenderVersion: "unknown", device: { type: "none", names: [] } },
  );
  return `${reused.length} characters, ${files} files`;
}

async function storageManifest(s: State, runId: string): Promise<Manifest | undefined> {
  const storage = await s.ctx.storage();
  const file = join(s.stateDir, "tmp", `${runId}-manifest.json`);
  try {
    await storage.getFile(joinKey(storage.prefix, "runs", runId, "manifest.json"), file, {
      signal: s.ctx.signal,
    });
  } catch {
    return undefined;
  }
  return readManifestFile(file);
}

/** Fill the record from the manifest, update the render cache, decide the run's status. */
async function finishRun(s: State): Promise<void> {
  const manifest = s.manifest ?? readManifestFile(join(s.localRunDir, "manifest.json"));
  if (manifest) {
    s.record.versions.blender ??= manifest.blenderVersion;
    s.record.versions.device ??= [manifest.device.type, ...manifest.device.names].join(" ");
  }
  const cache = readCacheIndex(s.stateDir);
  for (const c of s.record.characters) {
    const result = manifest?.characters.find((m) => m.name === c.name);
    if (!result) {
      c.status = "failed";
      c.error ??= "no result in the manifest (see the job log)";
      continue;
    }
    c.status = result.status;
    c.images = result.images.length;
    if (result.error) c.error = result.error;
    if (c.reusedFrom) s.record.counts.imagesReused += c.images;
    else s.record.counts.imagesRendered += c.images;
    if (c.status === "ok" && !c.reusedFrom)
      cache[c.renderKey] = { runId: s.runId, character: c.name, images: c.images };
  }
  await writeCacheIndex(s.stateDir, cache);
  const failed = s.record.characters.filter((c) => c.status !== "ok").length;
  s.record.status =
    failed === 0 ? "ok" : failed < s.record.characters.length ? "partial" : "failed";
  const report = join(s.localRunDir, "report.html");
  if (existsSync(report)) s.record.results.report = report;
}
