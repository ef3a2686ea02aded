/** The reuse step: an earlier run's renders, annotations and detections for unchanged characters. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { CharacterResult, Manifest } from "../render/manifest.js";
import { downloadPrefix } from "../storage/sync.js";
import { joinKey } from "../storage/types.js";
import { findCharacterResult, linkTree, readManifestFile, writeMergedManifest } from "./reuse.js";
import { runDir as localRunDirOf } from "./run-record.js";
import type { State } from "./state.js";

export async function runReuseStep(s: State): Promise<string> {
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
