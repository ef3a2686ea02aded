/**
 * Build job.json (src/render/job.schema.ts) from the config: which characters, clips,
 * frames, cameras, render settings and outputs. Characters are files of the characters
 * folder; a character's display name is its file name without the extension, kept exactly
 * (manifest, annotations, run.json); its name, a folder of every output path and a storage
 * key segment, is a readable slug of it (src/run/names.ts).
 */
import { readdir, stat } from "node:fs/promises";
import { extname, join } from "node:path";
import { hasRigs } from "../config/rigs.js";
import type { Config } from "../config/schema.js";
import { UserError } from "../errors.js";
import { uniqueSlugs } from "../run/names.js";
import { hashFile } from "../storage/hash.js";
import { type Job, jobSchema } from "./job.schema.js";

export const CHARACTER_EXTENSIONS = [".fbx", ".glb", ".gltf", ".blend"] as const;

export interface CharacterFile {
  /** Folder and key name: a slug of the file name (src/run/names.ts), unique in the folder. */
  name: string;
  /** The file name without its extension, as the user wrote it. */
  displayName?: string;
  /** Path as Blender will open it (absolute locally). */
  file: string;
  sha256: string;
}

/** Why `name` cannot be a folder name, or undefined when it can. */
export function unsafeNameReason(name: string): string | undefined {
  if (name === "") return "it is empty";
  if (name === "." || name === "..") return `"${name}" is not a folder name`;
  if (name.includes("/") || name.includes("\\")) return "it contains a slash";
  if (name.includes("\0")) return "it contains a NUL byte";
  if (name.includes("..")) return 'it contains ".."';
  return undefined;
}

/** `Samba "Dancing" $1.fbx` -> `Samba "Dancing" $1`; throws when that is not a safe segment. */
export function characterNameOf(fileName: string): string {
  const name = fileName.slice(0, fileName.length - extname(fileName).length);
  const reason = unsafeNameReason(name);
  if (reason)
    throw new UserError(
      `Character file \`${fileName}\` cannot be used: ${reason}. Rename the file.`,
    );
  return name;
}

export function isCharacterFile(fileName: string): boolean {
  return (CHARACTER_EXTENSIONS as readonly string[]).includes(extname(fileName).toLowerCase());
}

/** sha256 of a file of this size and mtime (a cache's lookup, or a hash of its bytes). */
export type HashOf = (file: string, size: number, mtimeMs: number) => Promise<string>;

/**
 * The character files of a folder (not recursive), sorted by name, with their sha256. `hash`
 * is what the pipeline passes: its project's hash cache, so an unchanged character (they run
 * to hundreds of megabytes) is not read again on every run.
 */
export async function listCharacterFiles(
  dir: string,
  hash: HashOf = (file, size) => hashFile(file, undefined, size),
): Promise<CharacterFile[]> {
  let entries: string[];
  try {
    entries = (await readdir(dir, { withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => e.name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      throw new UserError(
        `Characters folder \`${dir}\` does not exist: create it, or run \`posefactory sample\``,
      );
    }
    throw error;
  }
  const files = entries.filter(isCharacterFile).sort();
  const byName = new Map<string, string>();
  const displayNames: string[] = [];
  for (const fileName of files) {
    const name = characterNameOf(fileName);
    const other = byName.get(name);
    if (other !== undefined) {
      throw new UserError(
        `\`${other}\` and \`${fileName}\` in ${dir} would both be character \`${name}\`: rename one`,
      );
    }
    byName.set(name, fileName);
    displayNames.push(name);
  }
  // Sorted file names make the slugs, and which one gets `-2`, the same on every run.
  const slugs = uniqueSlugs(displayNames, "character");
  const result: CharacterFile[] = [];
  for (const [i, fileName] of files.entries()) {
    const file = join(dir, fileName);
    const { size, mtimeMs } = await stat(file);
    result.push({
      name: slugs[i]!,
      displayName: displayNames[i]!,
      file,
      sha256: await hash(file, size, mtimeMs),
    });
  }
  return result;
}

export interface BuildJobOptions {
  runId: string;
  characters: CharacterFile[];
  /** Run folder on the render host. */
  outDir: string;
  /** scene.backgrounds as the render host sees it (absolute locally). */
  backgroundsDir?: string;
  /** config `animations` as the render host sees it (absolute locally). */
  animationsDir?: string;
}

type Range = [number, number];

function definedRanges(ranges: Record<string, Range | undefined>): Record<string, Range> {
  return Object.fromEntries(
    Object.entries(ranges).filter((e): e is [string, Range] => e[1] !== undefined),
  );
}

function sceneOf(scene: NonNullable<Config["scene"]>, backgroundsDir?: string): Job["scene"] {
  return {
    seed: scene.seed,
    ...(backgroundsDir ? { backgrounds: backgroundsDir } : {}),
    lights: { ...scene.lights },
    ...(scene.appearance ? { appearance: { ...scene.appearance } } : {}),
    ...(scene.occluders ? { occluders: { ...scene.occluders } } : {}),
  };
}

export function buildJob(config: Config, options: BuildJobOptions): Job {
  const { cameras, render, outputs, frames } = config;
  const clips = config.clips.length > 0 ? [...config.clips] : undefined;
  const job: Job = {
    version: 1,
    runId: options.runId,
    characters: options.characters.map((c) => ({
      name: c.name,
      ...(c.displayName && c.displayName !== c.name ? { displayName: c.displayName } : {}),
      file: c.file,
      sha256: c.sha256,
      ...(clips ? { clips } : {}),
    })),
    frames: "list" in frames ? { list: [...frames.list] } : { step: frames.step },
    cameras: {
      azimuthsDeg: [...cameras.azimuthsDeg],
      elevationsDeg: [...cameras.elevationsDeg],
      lensMm: cameras.lensMm,
      sensorMm: cameras.sensorMm,
      margin: cameras.margin,
      framing: cameras.framing,
      bbox: cameras.bbox,
      ...(cameras.distanceM !== undefined ? { distanceM: cameras.distanceM } : {}),
      ...(cameras.heightM !== undefined ? { heightM: cameras.heightM } : {}),
      ...(cameras.jitter ? { jitter: definedRanges(cameras.jitter) } : {}),
      ...(cameras.truncation > 0 ? { truncation: cameras.truncation } : {}),
    },
    ...(config.scene ? { scene: sceneOf(config.scene, options.backgroundsDir) } : {}),
    ...(options.animationsDir ? { animations: options.animationsDir } : {}),
    render: {
      engine: render.engine,
      device: render.device,
      samples: render.samples,
      resolution: [render.resolution[0], render.resolution[1]],
      transparent: render.transparent,
    },
    outputs: { ...outputs },
    outDir: options.outDir,
    ...(hasRigs(config.rigs) ? { rigs: structuredClone(config.rigs) } : {}),
  };
  return jobSchema.parse(job);
}
