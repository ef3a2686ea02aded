/**
 * Bounding box once per clip vs recomputed per camera (the old behaviour), 8 cameras, same
 * run, same character; then seconds per stage per character, so Blender's fixed overhead
 * (import, bbox, cameras) shows next to the render time.
 *
 *   npx tsx test/bench/render.ts
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Manifest } from "../../src/render/manifest.js";
import { getSampleCharacters, makeJob, renderJob } from "../helpers/blender.js";

function bboxSeconds(manifest: Manifest): number {
  return manifest.characters.reduce((s, c) => s + c.seconds.bbox, 0);
}

function printStages(label: string, manifest: Manifest): void {
  for (const c of manifest.characters) {
    const s = c.seconds;
    const passes = c.clips.map((clip) => clip.bboxEvaluations).join("+");
    console.log(
      `  ${label} ${c.name}: import ${s.import.toFixed(2)} s, bbox ${s.bbox.toFixed(2)} s (${passes} passes), cameras ${s.cameras.toFixed(3)} s, render ${s.render.toFixed(2)} s (${c.images.length} images)`,
    );
  }
}

const dir = mkdtempSync(join(tmpdir(), "pf-bench-render-"));
try {
  const sample = await getSampleCharacters();
  const base = {
    characters: [
      { name: "walker", file: sample.fbx, sha256: "-" },
      { name: "two-clips", file: sample.glb, sha256: "-" },
    ],
    frames: { list: [0] },
  };
  const once = await renderJob(makeJob({ ...base, outDir: join(dir, "once") }));
  const perCamera = await renderJob(
    makeJob({ ...base, outDir: join(dir, "per-camera"), bench: { bboxPerCamera: true } }),
  );
  const a = bboxSeconds(once);
  const b = bboxSeconds(perCamera);
  console.log(
    "render bench: sample characters (walker FBX 48 frames; GLB Walk 40 + Wave 30), 8 cameras, 128x128, 4 samples, CPU",
  );
  console.log(`  bbox once per clip:      ${a.toFixed(3)} s`);
  console.log(`  bbox once per camera:    ${b.toFixed(3)} s`);
  console.log(`  ratio (per camera / once): ${(b / a).toFixed(2)}x`);
  console.log("seconds per stage per character:");
  printStages("once      ", once);
  printStages("per-camera", perCamera);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
