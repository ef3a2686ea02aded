/**
 * Which pose landmarker `.task` the detectors load, in order of preference:
 *   1. `detect.modelPath` from the config (the user's file, used as is);
 *   2. the official model from MediaPipe's model storage, downloaded once and cached;
 *   3. where that is unreachable (CI, no internet), a `.task` built offline from the
 *      `@mediapipe/pose` npm package's tflite files (build-task.ts), cached by content.
 * The fallback from 2 to 3 is automatic and logged.
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { defaultCacheDir } from "../cache-dir.js";
import { UserError } from "../errors.js";
import type { Logger } from "../log.js";
import { buildPoseLandmarkerTask, sha256Hex, TASK_BUILDER_VERSION } from "./build-task.js";

export type PoseModelVariant = "lite" | "full" | "heavy";

export interface OfficialModel {
  url: string;
  /**
   * Pinned sha256 of the official file (float16, version 1; the values many public projects
   * pin for these URLs). null = not pinned: accepted on first download, its hash logged.
   */
  sha256: string | null;
}

const MODEL_STORE = "https://storage.googleapis.com/mediapipe-models/pose_landmarker";

/** Versioned URLs (".../float16/1/..."), never ".../latest/...": the bytes must not drift. */
export const OFFICIAL_MODELS: Record<PoseModelVariant, OfficialModel> = {
  lite: {
    url: `${MODEL_STORE}/pose_landmarker_lite/float16/1/pose_landmarker_lite.task`,
    sha256: "59929e1d1ee95287735ddd833b19cf4ac46d29bc7afddbbf6753c459690d574a",
  },
  full: {
    url: `${MODEL_STORE}/pose_landmarker_full/float16/1/pose_landmarker_full.task`,
    sha256: "5134a3aad27a58b93da0088d431f366da362b44e3ccfbe3462b3827a839011b1",
  },
  heavy: {
    url: `${MODEL_STORE}/pose_landmarker_heavy/float16/1/pose_landmarker_heavy.task`,
    sha256: "64437af838a65d18e5ba7a0d39b465540069bc8aae8308de3e318aad31fcbc7b",
  },
};

export interface ResolvedModel {
  /** Absolute path of the `.task` file. */
  path: string;
  /** pose_landmarker_full, or the file name of a configured model. */
  name: string;
  /** "official/float16/1", "npm:@mediapipe/pose@<version>", or "file". */
  version: string;
  sha256: string;
  source: "config" | "official" | "built";
}

export interface ResolveModelOptions {
  variant: PoseModelVariant;
  /** detect.modelPath; relative paths resolve against baseDir. */
  modelPath?: string;
  baseDir?: string;
  cacheDir?: string;
  logger: Logger;
  /** Set false to skip the download attempt (e.g. --offline). Default true. */
  download?: boolean;
  /** Injected for tests of the download path (a local HTTP server); defaults to global fetch. */
  fetchImpl?: typeof fetch;
  /** Overrides OFFICIAL_MODELS (tests point it at a loopback server). */
  official?: Partial<Record<PoseModelVariant, OfficialModel>>;
  env?: NodeJS.ProcessEnv;
}

export async function resolvePoseModel(options: ResolveModelOptions): Promise<ResolvedModel> {
  const { logger, variant } = options;
  if (options.modelPath)
    return resolveConfiguredModel(options.modelPath, options.baseDir ?? process.cwd());
  const cacheDir = join(options.cacheDir ?? defaultCacheDir(options.env), "models");
  const official = options.official?.[variant] ?? OFFICIAL_MODELS[variant];
  if (options.download !== false && !(options.env ?? process.env).POSEFACTORY_OFFLINE) {
    try {
      return await fetchOfficialModel(
        variant,
        official,
        cacheDir,
        logger,
        options.fetchImpl ?? fetch,
      );
    } catch (error) {
      if (error instanceof UserError) throw error;
      logger.warn(
        { url: official.url, err: error instanceof Error ? error.message : String(error) },
        "could not download the official pose model; building it offline from @mediapipe/pose",
      );
    }
  }
  return buildOfflineModel(variant, cacheDir, logger);
}

async function resolveConfiguredModel(modelPath: string, baseDir: string): Promise<ResolvedModel> {
  const path = isAbsolute(modelPath) ? modelPath : resolve(baseDir, modelPath);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new UserError(
      `detect.modelPath: cannot read ${path}: point it at a pose_landmarker .task file, or remove the key to use the official model`,
      { cause: error },
    );
  }
  if (bytes.readUInt32LE(0) !== 0x04034b50) {
    throw new UserError(
      `detect.modelPath: ${path} is not a .task file (a .task is a zip of tflite models)`,
    );
  }
  const name = path
    .split(/[\\/]/)
    .pop()!
    .replace(/\.task$/, "");
  return { path, name, version: "file", sha256: sha256Hex(bytes), source: "config" };
}

async function fetchOfficialModel(
  variant: PoseModelVariant,
  official: OfficialModel,
  cacheDir: string,
  logger: Logger,
  fetchImpl: typeof fetch,
): Promise<ResolvedModel> {
  const name = `pose_landmarker_${variant}`;
  const version = "official/float16/1";
  const target = join(cacheDir, "official", `${name}.task`);
  if (existsSync(target)) {
    const bytes = await readFile(target);
    const sha256 = sha256Hex(bytes);
    if (official.sha256 === null || sha256 === official.sha256) {
      logger.debug({ path: target }, "using cached official pose model");
      return { path: target, name, version, sha256, source: "official" };
    }
    logger.warn(
      { path: target },
      "cached pose model does not match its pinned sha256; downloading it again",
    );
  }
  logger.info({ url: official.url }, "downloading the official pose model (once)");
  // A bounded wait for the headers: offline machines fail fast (DNS), but a black-holed
  // network would otherwise hang here before the offline fallback.
  const response = await fetchImpl(official.url, { signal: AbortSignal.timeout(60_000) });
  if (!response.ok) throw new Error(`HTTP ${response.status} for ${official.url}`);
  const bytes = Buffer.from(await response.arrayBuffer());
  const sha256 = sha256Hex(bytes);
  if (official.sha256 !== null && sha256 !== official.sha256) {
    // Not a network hiccup: the file changed or was tampered with. Do not fall back silently.
    throw new UserError(
      `The downloaded ${name}.task has sha256 ${sha256}, expected ${official.sha256}: ` +
        "set detect.modelPath to a model you trust, or update posefactory",
    );
  }
  if (official.sha256 === null) {
    logger.warn(
      { sha256, url: official.url },
      "pose model has no pinned sha256 yet; accepted on first use",
    );
  }
  await writeAtomically(target, bytes);
  return { path: target, name, version, sha256, source: "official" };
}

function poseSolutionDir(): string {
  const require = createRequire(import.meta.url);
  let entry: string;
  try {
    entry = require.resolve("@mediapipe/pose");
  } catch (error) {
    throw new UserError(
      "Cannot build the pose model offline: the npm package @mediapipe/pose is missing. Reinstall posefactory (npm install), or set detect.modelPath to a pose_landmarker .task file",
      { cause: error },
    );
  }
  return dirname(entry);
}

/**
 * The detector tflite inside the legacy package's `pose_solution_packed_assets.data`: an
 * emscripten file package whose loader script lists each file's byte range.
 */
async function readLegacyDetector(dir: string): Promise<Buffer> {
  const data = await readFile(join(dir, "pose_solution_packed_assets.data"));
  const loader = await readFile(join(dir, "pose_solution_packed_assets_loader.js"), "utf8").catch(
    () => "",
  );
  const match =
    /"filename":\s*"[^"]*pose_detection\.tflite",\s*"start":\s*(\d+),\s*"end":\s*(\d+)/.exec(
      loader,
    );
  if (match) return data.subarray(Number(match[1]), Number(match[2]));
  // Older packages held only this one file: take it whole if it is a TFLite model.
  if (data.subarray(4, 8).toString("latin1") === "TFL3") return data;
  throw new Error("pose_detection.tflite not found in @mediapipe/pose's packed assets");
}

async function buildOfflineModel(
  variant: PoseModelVariant,
  cacheDir: string,
  logger: Logger,
): Promise<ResolvedModel> {
  const dir = poseSolutionDir();
  const pkg = JSON.parse(await readFile(join(dir, "package.json"), "utf8")) as { version?: string };
  const detector = await readLegacyDetector(dir);
  const landmarker = await readFile(join(dir, `pose_landmark_${variant}.tflite`));
  // Cache key: the inputs' bytes and the builder's version, so a package update or a builder
  // change produces a new file instead of reusing a stale one.
  const key = createHash("sha256")
    .update(`builder:${TASK_BUILDER_VERSION}\0${variant}\0`)
    .update(detector)
    .update(landmarker)
    .digest("hex")
    .slice(0, 16);
  const name = `pose_landmarker_${variant}`;
  const version = `npm:@mediapipe/pose@${pkg.version ?? "unknown"}`;
  const target = join(cacheDir, "built", key, `${name}.task`);
  if (existsSync(target)) {
    const bytes = await readFile(target);
    return { path: target, name, version, sha256: sha256Hex(bytes), source: "built" };
  }
  const started = performance.now();
  const task = buildPoseLandmarkerTask(detector, landmarker, variant);
  await writeAtomically(target, task);
  logger.info(
    { path: target, seconds: Number(((performance.now() - started) / 1000).toFixed(2)) },
    `built ${name}.task offline from @mediapipe/pose`,
  );
  return { path: target, name, version, sha256: sha256Hex(task), source: "built" };
}

/** Write to a temp name then rename: parallel runs never read a half-written model. */
async function writeAtomically(target: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  const temp = `${target}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await writeFile(temp, bytes);
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
