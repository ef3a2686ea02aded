/** The reuse step: an earlier run's renders, annotations and detections for unchanged characters. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { type CharacterResult, type Manifest, readManifestFile } from "../run/manifest.js";
import { localRunDir, RunFiles, runKey } from "../run/paths.js";
import { otherModels } from "./host-script.js";
import { linkTree, writeMergedManifest } from "./reuse.js";
import type { State } from "./state.js";

export async function runReuseStep(s: State): Promise<string> {
  const reused: CharacterResult[] = [];
  let earlier: Manifest | undefined;
  let files = 0;
  for (const c of s.characters.filter((x) => x.reuseFrom)) {
    const runId = c.reuseFrom!;
    const from = localRunDir(s.dataDir, runId);
    // Hard links from the earlier run on this machine; its keys in storage when it is gone.
    const local = existsSync(join(from, RunFiles.renders, c.name));
    // Detections made by the same model are reused too (detect.models': detections-<model>/);
    // the detect step fills any gap.
    const others = otherModels(s.config.detect).map((m) => `${RunFiles.detections}-${m}`);
    for (const part of [RunFiles.renders, RunFiles.detections, ...others]) {
      if (local && others.includes(part) && !existsSync(join(from, part, c.name))) continue;
      const to = join(s.localRunDir, part, c.name);
      files += local
        ? await linkTree(join(from, part, c.name), to)
        : await downloadPart(s, runId, [part, c.name], to);
    }
    const manifest = local
      ? readManifestFile(join(from, RunFiles.manifest))
      : await storageManifest(s, runId);
    const entry = manifest?.characters.find((m) => m.name === c.name && m.status === "ok");
    if (entry) reused.push(entry);
    earlier ??= manifest;
  }
  // The downloads above shared the run's sync cache: written once (a failed step loses only it).
  await s.hashCache.save();
  s.manifest = await writeMergedManifest(
    s.localRunDir,
    s.manifest,
    reused,
    earlier ?? { blenderVersion: "unknown", device: { type: "none", names: [] } },
  );
  return `${reused.length} characters, ${files} files`;
}

async function downloadPart(s: State, runId: string, parts: string[], to: string): Promise<number> {
  const { downloadPrefix } = await import("../storage/sync.js");
  const storage = await s.ctx.storage();
  const result = await downloadPrefix(storage, `${runKey(storage.prefix, runId, ...parts)}/`, to, {
    cache: s.hashCache,
    signal: s.ctx.signal,
    logger: s.ctx.logger,
  });
  return result.downloaded;
}

async function storageManifest(s: State, runId: string): Promise<Manifest | undefined> {
  const storage = await s.ctx.storage();
  const file = join(s.stateDir, "tmp", `${runId}-manifest.json`);
  try {
    await storage.getFile(runKey(storage.prefix, runId, RunFiles.manifest), file, {
      signal: s.ctx.signal,
    });
  } catch {
    return undefined;
  }
  return readManifestFile(file);
}
