/** The end of a run: fill run.json from the manifest, update the render cache, set the status. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { readManifestFile } from "../run/manifest.js";
import { RunFiles } from "../run/paths.js";
import { readCacheIndex, writeCacheIndex } from "./reuse.js";
import type { State } from "./state.js";

/** Fill the record from the manifest, update the render cache, decide the run's status. */
export async function finishRun(s: State): Promise<void> {
  const manifest = s.manifest ?? readManifestFile(join(s.localRunDir, RunFiles.manifest));
  if (manifest) {
    s.record.versions.blender ??= manifest.blenderVersion;
    s.record.versions.device ??= [manifest.device.type, ...manifest.device.names].join(" ");
  }
  const cache = readCacheIndex(s.stateDir);
  // Counted from every character each time: a resumed run finishes again (a Slurm run after
  // its failed shards), and must not count the first attempt's images twice.
  s.record.counts.imagesRendered = 0;
  s.record.counts.imagesReused = 0;
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
    else delete c.error;
    if (c.reusedFrom) s.record.counts.imagesReused += c.images;
    else s.record.counts.imagesRendered += c.images;
    if (c.status === "ok" && !c.reusedFrom)
      cache[c.renderKey] = { runId: s.runId, character: c.name, images: c.images };
  }
  await writeCacheIndex(s.stateDir, cache);
  const failed = s.record.characters.filter((c) => c.status !== "ok").length;
  s.record.status =
    failed === 0 ? "ok" : failed < s.record.characters.length ? "partial" : "failed";
  const report = join(s.localRunDir, RunFiles.report);
  if (existsSync(report)) s.record.results.report = report;
}
