/**
 * Real Blender for tests: the matrix of Blenders every Blender-side test runs on, the sample
 * character (made once per Blender and cached), small render jobs run through the local
 * Executor, and alpha-mask helpers that read the PNGs with sharp.
 *
 *   describeEachBlender("render", (blender) => {
 *     const sample = await getSampleCharacters(blender);   // { fbx, glb } (Walk + Wave clips)
 *     const manifest = await renderJob(makeJob({ characters: [...], outDir }), { blender });
 *   });
 *
 * The matrix: Debian's `blender` binary (3.4.1; POSEFACTORY_TEST_BLENDER overrides it) and
 * the bpy wheels in the venvs `.ci/run` makes (bpy 4.5 LTS from blender/requirements.txt,
 * bpy 5.0 from .ci/requirements-bpy-5.0.txt), each in the cache folder
 * `${POSEFACTORY_VENV_DIR:-~/.cache/posefactory/venvs}/<name>-<sha256 of the file, 12>`.
 * A Blender missing on a dev box is a visible skip; with CI=true it is a failing test.
 * POSEFACTORY_TEST_BLENDERS=binary,bpy-4.5 narrows the matrix locally (ignored in CI).
 */
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import sharp from "sharp";
import { describe, it } from "vitest";
import { createSilentLogger, type Logger } from "../../src/log.js";
import { createLocalExecutor } from "../../src/remote/local.js";
import { runBlenderJob } from "../../src/render/blender.js";
import type { Job } from "../../src/render/job.schema.js";
import type { BlenderSetting } from "../../src/render/launcher.js";
import type { Manifest } from "../../src/render/manifest.js";
import { BLENDER_DIR, blenderScriptCommand, makeSampleCharacter } from "../../src/render/sample.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Debian's Blender binary (the matrix's first entry). */
export const BLENDER = process.env.POSEFACTORY_TEST_BLENDER ?? "blender";

export interface TestBlender {
  /** binary | bpy-4.5 | bpy-5.0: names the venv and the sample cache. */
  id: string;
  /** For test titles: "blender binary", "bpy 4.5.15". */
  label: string;
  setting: BlenderSetting;
  /** Why this Blender cannot run here (undefined when it can). */
  missing?: string;
}

/** The folder .ci/run keeps its venvs in (outside the clone, so CI reuses them). */
export const VENV_ROOT =
  process.env.POSEFACTORY_VENV_DIR ??
  join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "posefactory", "venvs");

/** The venv .ci/run makes for a requirements file (same name and hash as its make_venv). */
export function venvFor(name: string, requirements: string): { dir: string; pin: string } {
  const text = readFileSync(join(ROOT, requirements));
  const hash = createHash("sha256").update(text).digest("hex").slice(0, 12);
  const pin = /^bpy==(\S+)/m.exec(text.toString("utf8"))?.[1] ?? "?";
  return { dir: join(VENV_ROOT, `${name}-${hash}`), pin };
}

function onPath(command: string): boolean {
  if (command.includes("/")) return existsSync(command);
  return (process.env.PATH ?? "").split(delimiter).some((d) => d && existsSync(join(d, command)));
}

function bpyBlender(id: string, requirements: string): TestBlender {
  const venv = venvFor(id, requirements);
  const python = join(venv.dir, "bin", "python");
  return {
    id,
    label: `bpy ${venv.pin}`,
    setting: { launcher: "module", path: python },
    ...(existsSync(join(venv.dir, ".complete"))
      ? {}
      : { missing: `no venv ${venv.dir} (run the venv section of .ci/run)` }),
  };
}

/**
 * The pod's Python: the venv of blender/requirements.txt (bpy 4.5 + mediapipe), what
 * setup-pod installs. `missing` as for the Blenders (required in CI).
 */
export const POD_PYTHON: { path: string; missing?: string } = (() => {
  const b = bpyBlender("bpy-4.5", "blender/requirements.txt");
  const path = typeof b.setting === "string" ? b.setting : b.setting.path;
  return { path, ...(b.missing ? { missing: b.missing } : {}) };
})();

/** `describe` when the pod's Python is there; a visible skip locally, a failure in CI. */
export function describeWithPodPython(title: string, body: (python: string) => void): void {
  if (POD_PYTHON.missing === undefined) describe(title, () => body(POD_PYTHON.path));
  else if (IN_CI)
    describe(title, () => {
      it("has the pod's Python venv (required in CI)", () => {
        throw new Error(POD_PYTHON.missing);
      });
    });
  else describe.skip(`${title}: skipped, ${POD_PYTHON.missing}`, () => body(POD_PYTHON.path));
}

const ALL_BLENDERS: TestBlender[] = [
  {
    id: "binary",
    label: "blender binary",
    setting: BLENDER,
    ...(onPath(BLENDER) ? {} : { missing: `\`${BLENDER}\` is not on PATH` }),
  },
  bpyBlender("bpy-4.5", "blender/requirements.txt"),
  bpyBlender("bpy-5.0", ".ci/requirements-bpy-5.0.txt"),
];

const IN_CI = !!process.env.CI && process.env.CI !== "false";
const ONLY = IN_CI ? undefined : process.env.POSEFACTORY_TEST_BLENDERS?.split(",");

/** Every Blender the Blender-side tests run on. */
export const BLENDERS: TestBlender[] = ALL_BLENDERS.filter((b) => !ONLY || ONLY.includes(b.id));

/** The binary: tests of the CLI around Blender that need just one Blender. */
export const DEFAULT_BLENDER: TestBlender = ALL_BLENDERS[0]!;

/**
 * `describe(title)` once per Blender of the matrix, titled `<title> [<label>]`. A missing
 * Blender skips its block with the reason in the title, except in CI, where it fails.
 */
export function describeEachBlender(title: string, body: (blender: TestBlender) => void): void {
  for (const blender of BLENDERS) {
    const name = `${title} [${blender.label}]`;
    if (blender.missing === undefined) describe(name, () => body(blender));
    else if (IN_CI)
      describe(name, () => {
        it("has this Blender installed (required in CI)", () => {
          throw new Error(`${blender.label}: ${blender.missing}`);
        });
      });
    else describe.skip(`${name}: skipped, ${blender.missing}`, () => body(blender));
  }
}

/** The target's `blender:` value as YAML (flow style) for a test's posefactory.yaml. */
export function blenderYaml(blender: TestBlender): string {
  return JSON.stringify(blender.setting);
}

export interface SampleCharacters {
  dir: string;
  /** Mixamo-like FBX (centimetres, armature scale 0.01), one clip: walk + raised arm. */
  fbx: string;
  /** GLB with two animations: Walk (root motion) and Wave (in place). */
  glb: string;
}

const cached = new Map<string, Promise<SampleCharacters>>();

/**
 * The sample character, built by blender/make_sample_character.py with the given Blender
 * (so each exporter of the matrix is exercised too) once and kept in a temp folder named
 * after the script's hash: every test file (each in its own worker) and every later run
 * reuses it until the script changes.
 */
export function getSampleCharacters(
  blender: TestBlender = DEFAULT_BLENDER,
): Promise<SampleCharacters> {
  let files = cached.get(blender.id);
  if (!files) {
    files = buildSampleCharacters(blender);
    cached.set(blender.id, files);
  }
  return files;
}

async function buildSampleCharacters(blender: TestBlender): Promise<SampleCharacters> {
  const script = readFileSync(join(BLENDER_DIR, "make_sample_character.py"));
  const hash = createHash("sha256").update(script).digest("hex").slice(0, 12);
  const suffix = blender.id === "binary" ? "" : `-${blender.id}`;
  const dir = join(tmpdir(), `posefactory-sample-${hash}${suffix}`);
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
      blender: blender.setting,
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

const cachedRigs = new Map<string, Promise<Record<RigConvention, string>>>();

/**
 * One character per rig convention, made once by the given Blender (so each exporter of the
 * matrix is exercised, and a Rigify .blend only opens in the Blender that wrote it or a later
 * one) and cached in a temp folder named after the generator scripts' hash and that Blender.
 */
export function getRigCharacters(
  blender: TestBlender = DEFAULT_BLENDER,
  conventions: readonly RigConvention[] = Object.keys(RIG_CONVENTIONS) as RigConvention[],
): Promise<Record<RigConvention, string>> {
  const key = `${blender.id}:${conventions.join(",")}`;
  let files = cachedRigs.get(key);
  if (!files) {
    files = buildRigCharacters(blender, conventions);
    cachedRigs.set(key, files);
  }
  return files;
}

async function buildRigCharacters(
  blender: TestBlender,
  conventions: readonly RigConvention[],
): Promise<Record<RigConvention, string>> {
  const hash = createHash("sha256");
  for (const script of ["make_rig_character.py", "make_sample_character.py"])
    hash.update(readFileSync(join(BLENDER_DIR, script)));
  hash.update(JSON.stringify(blender.setting)).update(conventions.join(","));
  const dir = join(tmpdir(), `posefactory-rigs-${hash.digest("hex").slice(0, 12)}-${blender.id}`);
  const files = Object.fromEntries(
    conventions.map((convention) => [convention, join(dir, RIG_CONVENTIONS[convention])]),
  ) as Record<RigConvention, string>;
  if (Object.values(files).every((f) => existsSync(f))) return files;
  const staging = mkdtempSync(join(tmpdir(), "posefactory-rigs-staging-"));
  try {
    const executor = createLocalExecutor({ logger: createSilentLogger(), baseDir: staging });
    let output = "";
    const script = join(BLENDER_DIR, "make_rig_character.py");
    const args = ["--all", staging, "--only", conventions.join(",")];
    const command = blenderScriptCommand(blender.setting, script, args);
    const result = await executor.run(command, {
      onStdout: (chunk) => (output += chunk),
      onStderr: (chunk) => (output += chunk),
    });
    if (result.exitCode !== 0)
      throw new Error(
        `make_rig_character.py (${blender.label}) failed (exit ${result.exitCode}):\n${output.slice(-3000)}`,
      );
    try {
      renameSync(staging, dir); // atomic: a parallel worker sees all files or none
    } catch (error) {
      if (!Object.values(files).every((f) => existsSync(f))) throw error;
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
  options: { blender?: TestBlender; logger?: Logger } = {},
): Promise<Manifest> {
  const logger = options.logger ?? createSilentLogger();
  const blender = options.blender ?? DEFAULT_BLENDER;
  await mkdir(job.outDir, { recursive: true });
  const jobPath = join(job.outDir, "job.json");
  await writeFile(jobPath, JSON.stringify(job));
  const executor = createLocalExecutor({ logger, baseDir: job.outDir });
  return runBlenderJob(executor, { blender: blender.setting, jobPath, runDir: job.outDir, logger });
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

/** Of a pose's visible (v = 2) keypoints, flat [x, y, v, ...]: how many, and how many on the mask. */
export function visibleOnMask(
  image: AlphaImage,
  keypoints: number[],
): { visible: number; inside: number } {
  let visible = 0;
  let inside = 0;
  for (let k = 0; k * 3 + 2 < keypoints.length; k++) {
    if (keypoints[k * 3 + 2] !== 2) continue;
    visible++;
    if (insideMask(image, keypoints[k * 3]!, keypoints[k * 3 + 1]!)) inside++;
  }
  return { visible, inside };
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
