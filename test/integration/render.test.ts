/**
 * The renderer with real Blender (Cycles CPU, 128x128, 4 samples): framing, clips, the
 * bounding box pass count and the ground-truth keypoints, checked on the rendered pixels.
 * One render serves many assertions; the aspect tests render one frame each. Runs on every
 * Blender of the matrix (test/helpers/blender.ts).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { annotationsSchema } from "../../src/detect/schema.js";
import type { Logger } from "../../src/log.js";
import type { Job } from "../../src/render/job.schema.js";
import type { Manifest } from "../../src/render/manifest.js";
import {
  type AlphaImage,
  describeEachBlender,
  getSampleCharacters,
  insideMask,
  makeJob,
  maskStats,
  readAlpha,
  renderJob,
  type TestBlender,
} from "../helpers/blender.js";

function makeTempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const AZIMUTHS = [0, 45, 90, 135, 180, 225, 270, 315];

interface Rendered {
  job: Job;
  manifest: Manifest;
  alpha: Map<string, AlphaImage>;
}

async function renderAndRead(
  job: Job,
  blender: TestBlender,
  blenderLines: string[] = [],
): Promise<Rendered> {
  // Blender's own lines reach the logger's debug level (src/render/blender.ts forwardLine).
  const keep = (fields: unknown) => {
    const line = (fields as { blender?: string }).blender;
    if (line !== undefined) blenderLines.push(line);
  };
  const logger = { trace: keep, debug: keep, info: keep, warn: keep, error: keep } as Logger;
  const manifest = await renderJob(job, { blender, logger });
  const alpha = new Map<string, AlphaImage>();
  for (const character of manifest.characters) {
    for (const image of character.images)
      alpha.set(image.path, await readAlpha(join(job.outDir, image.path)));
  }
  return { job, manifest, alpha };
}

/** Every image: mask non-empty, off the border, and (follow framing) at least 40% tall or wide. */
function expectFramed(rendered: Rendered): void {
  for (const character of rendered.manifest.characters) {
    expect(character.images.length).toBeGreaterThan(0);
    for (const image of character.images) {
      const stats = maskStats(rendered.alpha.get(image.path)!);
      const where = `${image.path}: ${JSON.stringify(stats)}`;
      expect(stats.pixels, where).toBeGreaterThan(0);
      expect(stats.touchesBorder, where).toBe(false);
      expect(stats.extent, where).toBeGreaterThanOrEqual(0.4);
    }
  }
}

function readAnnotations(outDir: string, relpath: string) {
  return annotationsSchema.parse(JSON.parse(readFileSync(join(outDir, relpath), "utf8")));
}

describeEachBlender(
  "render: the sample character, 8 azimuths x 2 elevations x 3 frames, plus a two-clip GLB",
  (blender) => {
    let temp: ReturnType<typeof makeTempDir>;
    let square: Rendered;
    const blenderLines: string[] = [];

    beforeAll(async () => {
      temp = makeTempDir("pf-render-");
      const sample = await getSampleCharacters(blender);
      square = await renderAndRead(
        makeJob({
          outDir: join(temp.dir, "run"),
          characters: [
            { name: "walker", file: sample.fbx, sha256: "-" },
            { name: "two-clips", file: sample.glb, sha256: "-" },
          ],
          frames: { list: [0, 20, 40] }, // walker: 48 frames, arm raised mid-clip; GLB: Walk 40, Wave 30
          cameras: {
            ...makeJob({ characters: [], outDir: "" }).cameras,
            azimuthsDeg: AZIMUTHS,
            elevationsDeg: [10, -10],
          },
        }),
        blender,
        blenderLines,
      );
    });
    afterAll(() => temp?.cleanup());

    it("leaves Blender's per-sample status lines out of its output, keeping a line per saved image", () => {
      const images = square.manifest.characters.reduce((n, c) => n + c.images.length, 0);
      expect(blenderLines.filter((l) => l.startsWith("Fra:"))).toEqual([]);
      // "Saved: '<path>'", after a time and a category in Blender 5's log format.
      expect(blenderLines.filter((l) => /\bSaved: '/.test(l))).toHaveLength(images);
    });

    it("renders every image of the job, each framed inside the image", () => {
      const walker = square.manifest.characters.find((c) => c.name === "walker")!;
      expect(walker.status).toBe("ok");
      expect(walker.images).toHaveLength(8 * 2 * 3);
      for (const image of walker.images)
        expect(existsSync(join(square.job.outDir, image.path))).toBe(true);
      const views = new Set(walker.images.map((i) => i.camera));
      expect(views).toContain("az045_el10");
      expect(views).toContain("az315_el-10");
      expect(walker.images[0]!.path).toMatch(
        /^renders\/walker\/mixamo\.com\/az\d{3}_el-?\d+\/f\d{4}\.png$/,
      );
      expectFramed(square);
    });

    it("measures the bounding box once per clip", () => {
      for (const character of square.manifest.characters) {
        for (const clip of character.clips)
          expect(clip.bboxEvaluations, `${character.name}/${clip.name}`).toBe(1);
      }
      const walker = square.manifest.characters.find((c) => c.name === "walker")!;
      const clip = walker.clips[0]!;
      expect(clip.frameRange).toEqual([2, 49]); // the FBX importer's +1 shift, read from the action
      expect(clip.bbox.max[2] - clip.bbox.min[2]).toBeGreaterThan(1.7); // metres: the 0.01 scale is kept
      expect(clip.bbox.max[2] - clip.bbox.min[2]).toBeLessThan(2.5);
      expect(clip.cameras).toHaveLength(16);
    });

    it("records the rig profile that read each character's joints", () => {
      for (const character of square.manifest.characters) {
        expect(character.rig, character.name).toMatchObject({ profile: "mixamo", score: 1 });
        expect(character.rig!.mappedBones).toMatchObject({
          left_shoulder: "mixamorig:LeftArm",
          right_wrist: "mixamorig:RightHand",
          head_top: "mixamorig:HeadTop_End",
        });
      }
    });

    it("gives visible keypoints (v=2) that fall inside the alpha mask (>= 95%)", () => {
      let visible = 0;
      let inside = 0;
      const misses: string[] = [];
      for (const character of square.manifest.characters) {
        const annotations = readAnnotations(square.job.outDir, character.annotations!);
        const images = new Map(annotations.images.map((i) => [i.id, i]));
        for (const annotation of annotations.annotations) {
          const image = images.get(annotation.image_id)!;
          const alpha = square.alpha.get(`renders/${character.name}/${image.file_name}`)!;
          for (let k = 0; k < 33; k++) {
            const [x, y, v] = annotation.keypoints_mediapipe.slice(k * 3, k * 3 + 3) as [
              number,
              number,
              number,
            ];
            if (v !== 2) continue;
            visible++;
            if (insideMask(alpha, x, y)) inside++;
            else misses.push(`${image.file_name} #${k} (${x.toFixed(1)}, ${y.toFixed(1)})`);
          }
        }
      }
      expect(visible).toBeGreaterThan(1000);
      expect(inside / visible, misses.slice(0, 20).join("\n")).toBeGreaterThanOrEqual(0.95);
    });

    it("writes a valid COCO keypoints file with cameras and the MediaPipe/3D extras", () => {
      const walker = square.manifest.characters.find((c) => c.name === "walker")!;
      expect(walker.annotations).toBe("renders/walker/annotations.json");
      const coco = readAnnotations(square.job.outDir, walker.annotations!);
      expect(coco.images).toHaveLength(48);
      expect(coco.annotations).toHaveLength(48);
      expect(coco.character).toBe("walker");
      expect(coco.categories[0]!.keypoints[0]).toBe("nose");
      const imageIds = new Set(coco.images.map((i) => i.id));
      expect(imageIds.size).toBe(coco.images.length);
      expect(new Set(coco.annotations.map((a) => a.id)).size).toBe(coco.annotations.length);
      for (const annotation of coco.annotations) {
        expect(imageIds.has(annotation.image_id)).toBe(true);
        const visibilities = annotation.keypoints.filter((_, i) => i % 3 === 2);
        expect(annotation.num_keypoints).toBe(visibilities.filter((v) => v > 0).length);
        for (const v of visibilities) expect([0, 1, 2]).toContain(v);
        expect(annotation.bbox[2]).toBeGreaterThan(0);
      }
      for (const image of coco.images) {
        expect(existsSync(join(square.job.outDir, "renders/walker", image.file_name))).toBe(true);
        const R = image.camera.R;
        // a rotation: rows of unit length
        for (const row of R) expect(Math.hypot(...row)).toBeCloseTo(1, 5);
      }
      // COCO keypoint 0 (nose) is MediaPipe landmark 0; COCO 5 (left shoulder) is MediaPipe 11.
      const first = coco.annotations[0]!;
      expect(first.keypoints.slice(0, 3)).toEqual(first.keypoints_mediapipe.slice(0, 3));
      expect(first.keypoints.slice(15, 18)).toEqual(first.keypoints_mediapipe.slice(33, 36));
      // The nose is about 1.67 m above the ground in the walker's rest proportions.
      expect(first.keypoints_3d[0]![2]).toBeGreaterThan(1.5);
    });

    it("splits a GLB with two animations into two clips, each framed and annotated on its own", () => {
      const glb = square.manifest.characters.find((c) => c.name === "two-clips")!;
      expect(glb.status).toBe("ok");
      expect(glb.clips.map((c) => c.name).sort()).toEqual(["Walk", "Wave"]);
      const [walk, wave] = ["Walk", "Wave"].map((n) => glb.clips.find((c) => c.name === n)!) as [
        (typeof glb.clips)[0],
        (typeof glb.clips)[0],
      ];
      expect(walk.frameRange).not.toEqual(wave.frameRange);
      expect(walk.bbox).not.toEqual(wave.bbox);
      for (const clip of [walk, wave]) {
        const images = glb.images.filter((i) => i.clip === clip.name);
        expect(images.length).toBe(16 * clip.frames!.length);
        for (const image of images)
          expect(image.path.startsWith(`renders/two-clips/${clip.name}/`)).toBe(true);
      }
      const coco = readAnnotations(square.job.outDir, glb.annotations!);
      expect(new Set(coco.images.map((i) => i.clip))).toEqual(new Set(["Walk", "Wave"]));
    });
  },
);

describeEachBlender(
  "render: non-square images keep the whole character (the angle_x/angle_y pitfall)",
  (blender) => {
    let temp: ReturnType<typeof makeTempDir>;
    beforeAll(() => {
      temp = makeTempDir("pf-render-aspect-");
    });
    afterAll(() => temp?.cleanup());

    for (const [label, resolution] of [
      ["16:9", [192, 108]],
      ["9:16", [108, 192]],
    ] as const) {
      it(`frames every view of a ${label} render`, async () => {
        const sample = await getSampleCharacters(blender);
        const rendered = await renderAndRead(
          makeJob({
            outDir: join(temp.dir, label.replace(":", "x")),
            characters: [{ name: "walker", file: sample.fbx, sha256: "-" }],
            frames: { list: [0, 22] }, // 22: the right arm is up
            cameras: {
              ...makeJob({ characters: [], outDir: "" }).cameras,
              azimuthsDeg: AZIMUTHS,
              elevationsDeg: [10, -10],
            },
            render: {
              engine: "CYCLES",
              device: "cpu",
              samples: 4,
              resolution: [resolution[0], resolution[1]],
              transparent: true,
            },
            outputs: { rgb: true, mask: false, depth: false, normals: false, keypoints: false },
          }),
          blender,
        );
        expect(rendered.manifest.characters[0]!.images).toHaveLength(32);
        const first = rendered.alpha.values().next().value!;
        expect([first.width, first.height]).toEqual(resolution);
        expectFramed(rendered);
      });
    }
  },
);
