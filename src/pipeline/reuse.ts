/**
 * Reusing earlier renders. The cache index (`.posefactory/render-cache.json` beside the
 * config) maps a render key (cache-key.ts) to the run that rendered that character; a new run
 * takes the character's renders, annotations and detections from there instead of
 * rendering again: hard links from the earlier local run folder, or a download of the
 * earlier run's keys when that folder is gone.
 */
import { existsSync, readFileSync } from "node:fs";
import { copyFile, link, mkdir, readdir, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { CharacterResult, Manifest } from "../run/manifest.js";
import { RunFiles } from "../run/paths.js";

export interface CacheEntry {
  runId: string;
  character: string;
  images: number;
}

export type CacheIndex = Record<string, CacheEntry>;

const CACHE_FILE = "render-cache.json";

export function readCacheIndex(stateDir: string): CacheIndex {
  const file = join(stateDir, CACHE_FILE);
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, "utf8")) as CacheIndex;
  } catch {
    // A damaged cache only costs a re-render.
    return {};
  }
}

export async function writeCacheIndex(stateDir: string, index: CacheIndex): Promise<void> {
  await mkdir(stateDir, { recursive: true });
  const file = join(stateDir, CACHE_FILE);
  await writeFile(`${file}.part`, `${JSON.stringify(index, null, 2)}\n`);
  await rename(`${file}.part`, file);
}

/** Hard-link (or copy across devices) every file below `from` into `to`. Returns files linked. */
export async function linkTree(from: string, to: string): Promise<number> {
  let count = 0;
  const entries = await readdir(from, { withFileTypes: true }).catch(() => []);
  await mkdir(to, { recursive: true });
  for (const entry of entries) {
    const src = join(from, entry.name);
    const dst = join(to, entry.name);
    if (entry.isDirectory()) {
      count += await linkTree(src, dst);
    } else if (entry.isFile()) {
      if (existsSync(dst)) continue;
      await link(src, dst).catch(() => copyFile(src, dst));
      count += 1;
    }
  }
  return count;
}

/** manifest.json of the new run: what Blender rendered now plus the reused characters' entries. */
export async function writeMergedManifest(
  runDir: string,
  rendered: Manifest | undefined,
  reused: CharacterResult[],
  fallback: Pick<Manifest, "blenderVersion" | "device">,
): Promise<Manifest> {
  const merged: Manifest = {
    version: 1,
    runId: rendered?.runId,
    blenderVersion: rendered?.blenderVersion ?? fallback.blenderVersion,
    device: rendered?.device ?? fallback.device,
    characters: [...(rendered?.characters ?? []), ...reused].sort((a, b) =>
      a.name < b.name ? -1 : 1,
    ),
  };
  const file = join(runDir, RunFiles.manifest);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(`${file}.part`, `${JSON.stringify(merged, null, 2)}\n`);
  await rename(`${file}.part`, file);
  return merged;
}
