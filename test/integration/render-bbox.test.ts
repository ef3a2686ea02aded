/**
 * The fast bounding box (cameras.bbox: fast) against the exact pass, with real Blender, on
 * the generated characters: the sample walker (FBX, rigid parts), the two-clip GLB, and a
 * realistic-size one (about 24k smoothly skinned vertices) whose blended joints exercise
 * linear blend skinning. The fast box must contain the exact one and be at most 3% larger
 * along each axis, the renders must still fit, and a mesh the fast box cannot follow makes
 * the clip fall back to the exact pass, recorded in the manifest.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createSilentLogger } from "../../src/log.js";
import { createLocalExecutor } from "../../src/remote/local.js";
import type { Job } from "../../src/render/job.schema.js";
import type { Manifest } from "../../src/render/manifest.js";
import { blenderScriptCommand } from "../../src/render/sample.js";
import {
  describeEachBlender,
  getSampleCharacters,
  makeJob,
  maskStats,
  readAlpha,
  renderJob,
  type TestBlender,
} from "../helpers/blender.js";
import { getDenseCharacter } from "../helpers/dense-character.js";

type Clip = Manifest["characters"][number]["clips"][number];

/** A .blend of the sample walker whose mesh has a Smooth modifier after its armature. */
async function makeSmoothedBlend(blender: TestBlender, fbx: string, out: string): Promise<void> {
  const source = [
    "import bpy",
    `bpy.ops.import_scene.fbx(filepath=${JSON.stringify(fbx)})`,
    "mesh = next(o for o in bpy.data.objects if o.type == 'MESH')",
    "mesh.modifiers.new('Smooth', 'SMOOTH')",
    `bpy.ops.wm.save_as_mainfile(filepath=${JSON.stringify(out)})`,
  ].join("\n");
  const script = `${out}.py`;
  writeFileSync(script, source);
  const executor = createLocalExecutor({ logger: createSilentLogger(), baseDir: tmpdir() });
  const result = await executor.run(blenderScriptCommand(blender.setting, script, []));
  if (result.exitCode !== 0) throw new Error(`making ${out} failed (exit ${result.exitCode})`);
}

function clipsOf(manifest: Manifest): Map<string, Clip> {
  const clips = new Map<string, Clip>();
  for (const character of manifest.characters) {
    expect(character.status, `${character.name}: ${character.error}`).toBe("ok");
    for (const clip of character.clips) clips.set(`${character.name}/${clip.name}`, clip);
  }
  return clips;
}

describeEachBlender("render: fast bounding box vs the exact pass", (blender) => {
  const dir = mkdtempSync(join(tmpdir(), "pf-bbox-"));
  let fast: Manifest;
  let exact: Manifest;
  let fastJob: Job;

  beforeAll(async () => {
    const sample = await getSampleCharacters(blender);
    const dense = await getDenseCharacter({ frames: 120 }, blender);
    const smoothed = join(dir, "smoothed.blend");
    await makeSmoothedBlend(blender, sample.fbx, smoothed);
    const characters = [
      { name: "walker", file: sample.fbx, sha256: "-" },
      { name: "two-clips", file: sample.glb, sha256: "-" },
      { name: "dense", file: dense, sha256: "-" },
      { name: "smoothed", file: smoothed, sha256: "-" },
    ];
    const cameras = makeJob({ characters: [], outDir: "" }).cameras;
    fastJob = makeJob({
      characters,
      outDir: join(dir, "fast"),
      cameras: { ...cameras, bbox: "fast" },
    });
    fast = await renderJob(fastJob, { blender });
    exact = await renderJob(
      makeJob({
        characters,
        outDir: join(dir, "exact"),
        cameras: { ...cameras, bbox: "exact" },
        outputs: { rgb: false, mask: false, depth: false, normals: false, keypoints: false },
      }),
      { blender },
    );
  }, 600_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("records the mode per clip; a mesh the fast box cannot follow falls back to exact", () => {
    for (const [name, clip] of clipsOf(exact)) {
      expect(clip.bboxMode, name).toBe("exact");
      expect(clip.bboxFallback, name).toBeUndefined();
    }
    for (const [name, clip] of clipsOf(fast)) {
      if (name.startsWith("smoothed/")) {
        expect(clip.bboxMode, name).toBe("exact");
        expect(clip.bboxFallback, name).toMatch(/SMOOTH/);
      } else {
        expect(clip.bboxMode, name).toBe("fast");
        expect(clip.bboxFallback, name).toBeUndefined();
      }
    }
  });

  it("the fast box contains the exact one and is at most 3% larger along each axis", () => {
    const exactClips = clipsOf(exact);
    const fastClips = clipsOf(fast);
    expect([...fastClips.keys()].sort()).toEqual([...exactClips.keys()].sort());
    expect(fastClips.size).toBe(5); // walker 1, two-clips 2, dense 1, smoothed 1
    for (const [name, e] of exactClips) {
      const f = fastClips.get(name)!;
      for (let axis = 0; axis < 3; axis++) {
        const where = `${name} axis ${axis}: fast ${JSON.stringify(f.bbox)} exact ${JSON.stringify(e.bbox)}`;
        expect(f.bbox.min[axis]!, where).toBeLessThanOrEqual(e.bbox.min[axis]!);
        expect(f.bbox.max[axis]!, where).toBeGreaterThanOrEqual(e.bbox.max[axis]!);
        const exactSize = e.bbox.max[axis]! - e.bbox.min[axis]!;
        const fastSize = f.bbox.max[axis]! - f.bbox.min[axis]!;
        expect((fastSize - exactSize) / exactSize, where).toBeLessThanOrEqual(0.03);
      }
    }
  });

  it("renders framed with the fast box fit: the character fills the frame, off the border", async () => {
    for (const character of fast.characters.filter((c) => c.name !== "smoothed")) {
      expect(character.images.length).toBeGreaterThan(0);
      for (const image of character.images) {
        const stats = maskStats(await readAlpha(join(fastJob.outDir, image.path)));
        const where = `${image.path}: ${JSON.stringify(stats)}`;
        expect(stats.pixels, where).toBeGreaterThan(0);
        expect(stats.touchesBorder, where).toBe(false);
        expect(stats.extent, where).toBeGreaterThanOrEqual(0.4);
      }
    }
  });
});
