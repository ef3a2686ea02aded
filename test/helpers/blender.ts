/**
 * Real Blender for tests: the sample character, made once and cached, small render jobs
 * run through the local Executor, and alpha-mask helpers that read the PNGs with sharp.
 *
 *   const sample = await getSampleCharacters();      // { fbx, glb } (Walk + Wave clips)
 *   const { manifest } = await renderJob(makeJob({ characters: [...], outDir }));
 */
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { createSilentLogger, type Logger } from "../../src/log.js";
import { createLocalExecutor } from "../../src/remote/local.js";
import { runBlenderJob } from "../../src/render/blender.js";
import type { Job } from "../../src/render/job.schema.js";
import type { Manifest } from "../../src/render/manifest.js";
import { BLENDER_DIR, blenderScriptCommand, makeSampleCharacter } from "../../src/render/sample.js";

export const BLENDER = process.env.POSEFACTORY_TEST_BLENDER ?? "blender";

export interface SampleCharacters {
  dir: string;
  /** Mixamo-like FBX (centimetres, armature scale 0.01), one clip: walk + raised arm. */
  fbx: string;
  /** GLB with two animations: Walk (root motion) and Wave (in place). */
  glb: string;
}

let cached: Promise<SampleCharacters> | undefined;

/**
 * The sample character, built by blender/make_sample_character.py once and kept in a temp
 * folder named after the script's hash: every test file (each in its own worker) and every
 * later run reuses it until the script changes.
 */
export function getSampleCharacters(): Promise<SampleCharacters> {
  cached ??= buildSampleCharacters();
  return cached;
}

async function buildSampleCharacters(): Promise<SampleCharacters> {
  const script = readFileSync(join(BLENDER_DIR, "make_sample_character.py"));
  const hash = createHash("sha256").update(script).digest("hex").slice(0, 12);
  const dir = join(tmpdir(), `posefactory-sample-${hash}`);
  const files = {
    dir,
    fbx: join(dir, "sample-walker.fbx"),
    glb: join(dir, "sample-two-clips.glb"),
  };
  if (existsSync(files.fbx) && existsSync(files.glb)) return files;
  const staging = mkdtempSync(join(tmpdir(), "posefactory-sample-staging-"));
  try {
    const executor = createLocalExecutor({ logger: createSilentLogger(), baseDir: staging });
    await makeSampleCharacter(executor, {
      blender: BLENDER,
      out: join(staging, "sample-walker.fbx"),
      glbTwoClips: join(staging, "sample-two-clips.glb"),
      logger: createSilentLogger(),
    });
    try {
      renameSync(staging, dir); // atomic: a parallel worker either sees all files or none
    } catch (error) {
      if (!existsSync(files.fbx)) throw error; // another worker won the race: use its files
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return files;
}

/** Characters with other tools' skeletons (blender/make_rig_character.py), by convention. */
export const RIG_CONVENTIONS = {
  daz: "daz.fbx",
  unreal: "unreal.fbx",
  cc: "cc.fbx",
  vrm: "vrm.glb",
  mpfb: "mpfb.glb",
  rigify: "rigify.blend",
  /** 3ds Max Biped names: no built-in profile (the unknown rig). */
  biped: "biped.fbx",
} as const;
export type RigConvention = keyof typeof RIG_CONVENTIONS;

let cachedRigs: Promise<Record<RigConvention, string>> | undefined;

/**
 * One character per rig convention, made once by the Blender under test (a Rigify .blend
 * only opens in the Blender that wrote it or a later one) and cached in a temp folder named
 * after the generator scripts' hash and the Blender used.
 */
export function getRigCharacters(): Promise<Record<RigConvention, string>> {
  cachedRigs ??= buildRigCharacters();
  return cachedRigs;
}

async function buildRigCharacters(): Promise<Record<RigConvention, string>> {
  const hash = createHash("sha256");
  for (const script of ["make_rig_character.py", "make_sample_character.py"])
    hash.update(readFileSync(join(BLENDER_DIR, script)));
  hash.update(BLENDER);
  const dir = join(tmpdir(), `posefactory-rigs-${hash.digest("hex").slice(0, 12)}`);
  const files = Object.fromEntries(
    Object.entries(RIG_CONVENTIONS).map(([convention, file]) => [convention, join(dir, file)]),
  ) as Record<RigConvention, string>;
  if (Object.values(files).every((f) => existsSync(f))) return files;
  const staging = mkdtempSync(join(tmpdir(), "posefactory-rigs-staging-"));
  try {
    const executor = createLocalExecutor({ logger: createSilentLogger(), baseDir: staging });
    let output = "";
    const script = join(BLENDER_DIR, "make_rig_character.py");
    const result = await executor.run(blenderScriptCommand(BLENDER, script, ["--all", staging]), {
      onStdout: (chunk) => (output += chunk),
      onStderr: (chunk) => (output += chunk),
    });
    if (result.exitCode !== 0)
      throw new Error(
        `make_rig_character.py failed (exit ${result.exitCode}):\n${output.slice(-3000)}`,
      );
    try {
      renameSync(staging, dir); // atomic: a parallel worker sees all files or none
    } catch (error) {
      if (!existsSync(files.rigify)) throw error;
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return files;
}

/** A small, fast job: 128x128, 4 samples, Cycles on the CPU, 8 azimuths x 1 elevation. */
export function makeJob(overrides: Partial<Job> & Pick<Job, "characters" | "outDir">): Job {
  return {
    version: 1,
    runId: "test",
    frames: { list: [0] },
    cameras: {
      azimuthsDeg: [0, 45, 90, 135, 180, 225, 270, 315],
      elevationsDeg: [10],
      lensMm: 50,
      sensorMm: 36,
      margin: 0.05,
      framing: "follow",
    },
    render: {
      engine: "CYCLES",
      device: "cpu",
      samples: 4,
      resolution: [128, 128],
      transparent: true,
    },
    outputs: { rgb: true, mask: false, depth: false, normals: false, keypoints: true },
    ...overrides,
  };
}

/** Write job.json into the job's outDir and run Blender on it through the local Executor. */
export async function renderJob(
  job: Job,
  logger: Logger = createSilentLogger(),
): Promise<Manifest> {
  await mkdir(job.outDir, { recursive: true });
  const jobPath = join(job.outDir, "job.json");
  await writeFile(jobPath, JSON.stringify(job));
  const executor = createLocalExecutor({ logger, baseDir: job.outDir });
  return runBlenderJob(executor, { blender: BLENDER, jobPath, runDir: job.outDir, logger });
}

export interface AlphaImage {
  width: number;
  height: number;
  /** One byte per pixel, row-major from the top-left. */
  alpha: Uint8Array;
}

export async function readAlpha(path: string): Promise<AlphaImage> {
  const { data, info } = await sharp(path)
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const alpha = new Uint8Array(info.width * info.height);
  for (let i = 0; i < alpha.length; i++) alpha[i] = data[i * info.channels + 3]!;
  return { width: info.width, height: info.height, alpha };
}

export interface MaskStats {
  pixels: number;
  touchesBorder: boolean;
  /** Mask bounding box: [x0, y0, x1, y1] inclusive. */
  box: [number, number, number, number];
  /** max(box height / image height, box width / image width). */
  extent: number;
}

export function maskStats(image: AlphaImage): MaskStats {
  const { width, height, alpha } = image;
  let pixels = 0;
  let touchesBorder = false;
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (alpha[y * width + x]! === 0) continue;
      pixels++;
      if (x === 0 || y === 0 || x === width - 1 || y === height - 1) touchesBorder = true;
      x0 = Math.min(x0, x);
      y0 = Math.min(y0, y);
      x1 = Math.max(x1, x);
      y1 = Math.max(y1, y);
    }
  }
  const extent = pixels === 0 ? 0 : Math.max((y1 - y0 + 1) / height, (x1 - x0 + 1) / width);
  return { pixels, touchesBorder, box: [x0, y0, x1, y1], extent };
}

/** Whether pixel (x, y) (top-left origin, fractional) is inside the alpha mask. */
export function insideMask(image: AlphaImage, x: number, y: number): boolean {
  const px = Math.floor(x);
  const py = Math.floor(y);
  if (px < 0 || py < 0 || px >= image.width || py >= image.height) return false;
  return image.alpha[py * image.width + px]! > 0;
}

/**
 * A GLB of the sample character whose two animations have the given names (for example
 * glTF-style `Armature|mixamo.com|Layer0`), built by make_sample_character.py into `dir`.
 */
export async function makeSampleGlb(dir: string, clipNames: [string, string]): Promise<string> {
  await mkdir(dir, { recursive: true });
  const glb = join(dir, "named-clips.glb");
  const executor = createLocalExecutor({ logger: createSilentLogger(), baseDir: dir });
  let output = "";
  const result = await executor.run(
    blenderScriptCommand(BLENDER, join(BLENDER_DIR, "make_sample_character.py"), [
      "--out",
      join(dir, "named-clips.fbx"),
      "--glb-two-clips",
      glb,
      ...clipNames.flatMap((name) => ["--glb-clip-name", name]),
    ]),
    { onStdout: (c) => (output += c), onStderr: (c) => (output += c) },
  );
  if (result.exitCode !== 0) throw new Error(`make_sample_character.py failed:\n${output}`);
  return glb;
}
