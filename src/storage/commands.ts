/**
 * The library side of `posefactory upload` and `posefactory download [runId]`.
 *
 *   runUpload({ dryRun, delete, concurrency }, ctx)
 *     characters folder (config.characters) -> <prefix>inputs/characters/
 *     the package's blender/ folder         -> <prefix>inputs/blender/
 *     config scene.backgrounds, animations  -> <prefix>inputs/backgrounds/, inputs/animations/
 *   runDownload(runId | undefined, { dryRun, concurrency }, ctx)
 *     <prefix>runs/<runId>/ -> <config.data>/runs/<runId>/  (default: the latest run id)
 *
 * Both return the summary and the plan; the command files print them.
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { resolveUserPath } from "../config/credentials.js";
import type { Config } from "../config/schema.js";
import type { Context } from "../context.js";
import { UsageError, UserError } from "../errors.js";
import { packagePath } from "../package-root.js";
import { isValidRunId, parseRunId } from "../run/id.js";
import { type InputPart, inputsKey, localRunDir, runKey, runsKeyPrefix } from "../run/paths.js";
import { verifyChecksums } from "./checksums.js";
import { SyncCache } from "./hash.js";
import { createProgress, type ProgressReporter, silentProgress } from "./progress.js";
import {
  type DownloadPlan,
  type DownloadSummary,
  defaultExclude,
  downloadPrefix,
  executeUpload,
  planUpload,
  type UploadPlan,
  type UploadSummary,
  walkFiles,
} from "./sync.js";
import type { Storage } from "./types.js";

export interface TransferCommandOptions {
  dryRun?: boolean;
  /** Upload only: remove remote files that no longer exist locally. */
  delete?: boolean;
  /** Overrides config sync.concurrency. */
  concurrency?: number;
}

export interface UploadResult extends UploadSummary {
  dryRun: boolean;
  plan: UploadPlan;
}

export interface DownloadResult extends DownloadSummary {
  /** Files checked against the run's sha256sums.txt (0 when it has none). */
  verified: number;
  dryRun: boolean;
  runId: string;
  localDir: string;
  plan: DownloadPlan;
}

/** The package's own blender/ folder. */
export function blenderSourceDir(): string {
  return `${packagePath("blender")}/`;
}

export function stateDirOf(ctx: Context): string {
  return join(ctx.resolved.baseDir, ".posefactory");
}

function progressFor(label: string, ctx: Context): ProgressReporter {
  if (ctx.global.quiet) return silentProgress;
  return createProgress(label, { logger: ctx.logger, env: ctx.env });
}

async function requireDir(dir: string, what: string): Promise<void> {
  const st = await stat(dir).catch(() => undefined);
  if (!st?.isDirectory()) throw new UsageError(`${what} ${dir} does not exist or is not a folder.`);
}

export interface InputFolder {
  part: InputPart;
  dir: string;
  /** What it is, for messages ("Animations folder (config `animations`)"). */
  what: string;
}

/** The folders `upload` sends, each to `<prefix>inputs/<part>/`. */
export function inputFolders(config: Config, baseDir: string): InputFolder[] {
  const folders: InputFolder[] = [
    {
      part: "characters",
      dir: resolveUserPath(config.characters, baseDir),
      what: "Characters folder (config `characters`)",
    },
    { part: "blender", dir: blenderSourceDir(), what: "posefactory's blender folder" },
  ];
  if (config.scene?.backgrounds)
    folders.push({
      part: "backgrounds",
      dir: resolveUserPath(config.scene.backgrounds, baseDir),
      what: "Backgrounds folder (config `scene.backgrounds`)",
    });
  if (config.animations)
    folders.push({
      part: "animations",
      dir: resolveUserPath(config.animations, baseDir),
      what: "Animations folder (config `animations`)",
    });
  return folders;
}

/**
 * The files `upload` sends from these parts, relative to the inputs folder
 * ("blender/render.py", "backgrounds/sky.hdr"): what a host job pulls.
 */
export async function listInputFiles(
  config: Config,
  baseDir: string,
  parts: readonly InputPart[],
): Promise<string[]> {
  const folders = inputFolders(config, baseDir).filter((f) => parts.includes(f.part));
  const lists = await Promise.all(
    folders.map(async (f) => {
      await requireDir(f.dir, f.what);
      return (await walkFiles(f.dir, defaultExclude)).map((file) => `${f.part}/${file.rel}`);
    }),
  );
  return lists.flat();
}

function mergePlans(a: UploadPlan, b: UploadPlan): UploadPlan {
  return {
    keyPrefix: a.keyPrefix,
    localDir: a.localDir,
    uploads: [...a.uploads, ...b.uploads],
    deletes: [...a.deletes, ...b.deletes],
    skipped: a.skipped + b.skipped,
    heads: a.heads + b.heads,
  };
}

/** An upload whose plan is made: what `runUpload` then carries out. */
export interface PreparedUpload {
  plan: UploadPlan;
  storage: Storage;
  cache: SyncCache;
}

/**
 * Plan an upload: local listings and hashes, one listing of storage. Only reads, so the
 * pipeline plans while the host's preflight runs, and uploads once the host passed it.
 * `cache`: a hash cache the caller already opened (the pipeline's, which hashed the
 * characters), saved by `runUpload`.
 */
export async function prepareUpload(
  options: Pick<TransferCommandOptions, "delete" | "concurrency">,
  ctx: Context,
  cache?: SyncCache,
): Promise<PreparedUpload> {
  const { config, baseDir } = ctx.resolved;
  const charactersDir = resolveUserPath(config.characters, baseDir);
  const charactersStat = await stat(charactersDir).catch(() => undefined);
  if (!charactersStat?.isDirectory()) {
    throw new UsageError(
      `Characters folder ${charactersDir} (config \`characters\`) does not exist: create it and put your .fbx/.glb/.gltf/.blend files in it, or set \`characters\` in ${ctx.resolved.path ?? "posefactory.yaml"}.`,
    );
  }
  const folders = inputFolders(config, baseDir);
  for (const f of folders.slice(1)) await requireDir(f.dir, f.what);
  // With nothing to upload, the run is the wait for the listings: start them without delay.
  const [storage, opened] = await Promise.all([
    ctx.storage(),
    cache ?? SyncCache.open(stateDirOf(ctx)),
  ]);
  try {
    // Every folder's listing in flight at once: with nothing to upload, waiting for them is
    // the run.
    const plans = await Promise.all(
      folders.map((f) =>
        planUpload(storage, f.dir, `${inputsKey(storage.prefix, f.part)}/`, {
          ...syncOptions(options, ctx),
          cache: opened,
        }),
      ),
    );
    return { plan: plans.reduce(mergePlans), storage, cache: opened };
  } catch (error) {
    await opened.save();
    throw error;
  }
}

function syncOptions(
  options: Pick<TransferCommandOptions, "delete" | "concurrency">,
  ctx: Context,
) {
  return {
    concurrency: options.concurrency ?? ctx.resolved.config.sync.concurrency,
    delete: options.delete,
    signal: ctx.signal,
    logger: ctx.logger,
  };
}

/** `posefactory upload`; `prepared`: a plan made earlier by prepareUpload with these options. */
export async function runUpload(
  options: TransferCommandOptions,
  ctx: Context,
  prepared?: Promise<PreparedUpload>,
): Promise<UploadResult> {
  const startedAt = performance.now();
  const { plan, storage, cache } = await (prepared ?? prepareUpload(options, ctx));
  try {
    if (options.dryRun) {
      return {
        dryRun: true,
        plan,
        uploaded: plan.uploads.length,
        skipped: plan.skipped,
        deleted: plan.deletes.length,
        bytes: plan.uploads.reduce((s, a) => s + a.size, 0),
        seconds: Math.round(performance.now() - startedAt) / 1000,
      };
    }
    const summary = await executeUpload(
      storage,
      plan,
      { ...syncOptions(options, ctx), cache, progress: progressFor("upload", ctx) },
      startedAt,
    );
    return { dryRun: false, plan, ...summary };
  } finally {
    await cache.save();
  }
}

/** Run ids sort by time (`20261125-083012-a1b2c3`): the latest is the last one. */
export async function findLatestRunId(ctx: Context): Promise<string | undefined> {
  const storage = await ctx.storage();
  const runs = await storage.listChildren(runsKeyPrefix(storage.prefix), {
    signal: ctx.signal,
  });
  return runs.filter(isValidRunId).sort().at(-1);
}

/** `posefactory download`; `cache`: a sync cache the caller opened (the pipeline's), saved here. */
export async function runDownload(
  runId: string | undefined,
  options: TransferCommandOptions,
  ctx: Context,
  cache?: SyncCache,
): Promise<DownloadResult> {
  const storage = await ctx.storage();
  const runsPrefix = runsKeyPrefix(storage.prefix);
  const id = runId === undefined ? await findLatestRunId(ctx) : parseRunId(runId);
  if (!id) {
    throw new UserError(
      `No runs in ${storage.location} (nothing under ${runsPrefix}): run \`posefactory render\` first.`,
    );
  }
  const { config, baseDir } = ctx.resolved;
  const localDir = localRunDir(resolveUserPath(config.data, baseDir), id);
  const result = await downloadPrefix(storage, `${runKey(storage.prefix, id)}/`, localDir, {
    ...(cache ? { cache } : { stateDir: stateDirOf(ctx) }),
    concurrency: options.concurrency ?? config.sync.concurrency,
    dryRun: options.dryRun,
    signal: ctx.signal,
    logger: ctx.logger,
    progress: progressFor("download", ctx),
  }).finally(() => cache?.save());
  if (result.downloaded + result.skipped === 0) {
    throw new UserError(
      `Run ${id} has no files in ${storage.location}: list the runs with \`posefactory runs\`.`,
    );
  }
  // What the render host pushed with rclone carries no sha256 metadata: its sha256sums.txt does.
  // Files downloaded now were hashed as they were written: only the others are read again.
  const verified = options.dryRun ? 0 : await verifyChecksums(localDir, ctx.signal, result.hashes);
  return { ...result, dryRun: options.dryRun === true, runId: id, localDir, verified };
}
