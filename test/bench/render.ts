/**
 * Fast vs exact bounding box (cameras.bbox), on each Blender of the matrix, on the generated
 * characters, the realistic-size one included (about 24k skinned vertices, 600 frames), and on
 * any character files named in
 * BENCH_CHARACTERS (a `:`-separated list of paths, e.g. real Mixamo downloads): seconds of
 * each pass, the ratio, and whether every fast box contains its exact box (and by how much
 * it is larger per axis).
 * Then: bounding box once per clip vs recomputed per camera (the old behaviour), 8 cameras, same
 * run, same character; then seconds per stage per character, so Blender's fixed overhead
 * (import, bbox, cameras) shows next to the render time.
 *
 *   npx tsx test/bench/render.ts
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { Manifest } from "../../src/render/manifest.js";
import {
  BLENDERS,
  getSampleCharacters,
  makeJob,
  renderJob,
  type TestBlender,
} from "../helpers/blender.js";
import { getDenseCharacter } from "../helpers/dense-character.js";

type Character = Manifest["characters"][number];

/** Fast vs exact on one character file: no images, only the box (outputs off). */
async function compareBboxModes(
  name: string,
  file: string,
  outDir: string,
  blender: TestBlender,
): Promise<boolean> {
  const job = (bbox: "fast" | "exact") =>
    makeJob({
      characters: [{ name, file, sha256: "-" }],
      outDir: join(outDir, bbox),
      cameras: { ...makeJob({ characters: [], outDir: "" }).cameras, bbox },
      outputs: { rgb: false, mask: false, depth: false, normals: false, keypoints: false },
    });
  const [fast] = (await renderJob(job("fast"), { blender })).characters as [Character];
  const [exact] = (await renderJob(job("exact"), { blender })).characters as [Character];
  const frames = exact.clips.map((c) => c.frameRange[1] - c.frameRange[0] + 1).join("+");
  let contained = true;
  let worst = 0;
  for (const e of exact.clips) {
    const f = fast.clips.find((c) => c.name === e.name);
    if (f?.bboxMode !== "fast") {
      console.log(`  ${name}/${e.name}: fast fell back to exact (${f?.bboxFallback})`);
      contained = false;
      continue;
    }
    for (let axis = 0; axis < 3; axis++) {
      if (f.bbox.min[axis]! > e.bbox.min[axis]! || f.bbox.max[axis]! < e.bbox.max[axis]!)
        contained = false;
      const size = e.bbox.max[axis]! - e.bbox.min[axis]!;
      worst = Math.max(worst, (f.bbox.max[axis]! - f.bbox.min[axis]! - size) / size);
    }
  }
  const a = fast.seconds.bbox;
  const b = exact.seconds.bbox;
  const poses = fast.clips.map((c) => (c.bboxPoses ?? "-").split(" ")[0]).join("+");
  console.log(
    `  ${name} (${frames} frames): exact ${b.toFixed(3)} s, fast ${a.toFixed(3)} s (poses ${poses}), ratio ${(b / a).toFixed(1)}x (goal >= 5x); fast contains exact: ${contained ? "yes" : "NO"}, at most ${(worst * 100).toFixed(2)}% larger per axis (goal <= 3%)`,
  );
  return contained;
}

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
  // On every Blender of the matrix: the pod runs 4.5, whose own skinning is much quicker than
  // 3.4's (POSEFACTORY_TEST_BLENDERS=binary,bpy-4.5 picks).
  let contained = true;
  for (const blender of BLENDERS.filter((b) => b.missing === undefined)) {
    const sample = await getSampleCharacters(blender);
    const dense = await getDenseCharacter({ frames: 600 }, blender);
    console.log(
      `render bench [${blender.label}]: bounding box, fast vs exact (the anchor), same run, 1 Blender process each`,
    );
    for (const [name, file] of [
      ["walker (sample FBX)", sample.fbx],
      ["two-clips (sample GLB)", sample.glb],
      ["dense (24k vertices, FBX)", dense],
      ...(process.env.BENCH_CHARACTERS ?? "")
        .split(":")
        .filter(Boolean)
        .map((path) => [basename(path), path] as const),
    ]) {
      const out = join(dir, "modes", blender.id, name.replace(/[^a-z0-9]+/gi, "-"));
      contained = (await compareBboxModes(name, file, out, blender)) && contained;
    }
  }
  if (!contained) process.exitCode = 1;
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
