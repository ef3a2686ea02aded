/**
 * cameras.jitter and cameras.truncation with real Blender: every image records what it drew,
 * the same seed gives the same draws and (Cycles on the CPU) the same pixels, another seed
 * other draws; K/R/t follow the jittered camera (visible keypoints land on the rendered mask);
 * only the images allowed to be truncated cut the body, and their cut joints get v = 0.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Annotations, annotationsSchema } from "../../src/detect/schema.js";
import type { Job } from "../../src/render/job.schema.js";
import {
  describeEachBlender,
  getSampleCharacters,
  makeJob,
  maskStats,
  readAlpha,
  renderJob,
  visibleOnMask,
} from "../helpers/blender.js";

const JITTER = {
  distance: [0.5, 0.9] as [number, number],
  lensMm: [-10, 20] as [number, number],
  heightM: [-0.2, 0.2] as [number, number],
  rollDeg: [-15, 15] as [number, number],
  azimuthDeg: [-20, 20] as [number, number],
  elevationDeg: [-5, 5] as [number, number],
};

interface CameraDraw {
  lensMm: number;
  rollDeg: number;
  truncationAllowed: boolean;
  distanceMultiplier: number;
}

describeEachBlender("render: camera jitter and truncation, seeded", (blender) => {
  const dir = mkdtempSync(join(tmpdir(), "pf-jitter-"));
  const runs: Record<string, { job: Job; coco: Annotations }> = {};

  beforeAll(async () => {
    const sample = await getSampleCharacters(blender);
    const base = makeJob({ characters: [], outDir: "" });
    for (const [name, seed] of [
      ["a", 7],
      ["b", 7],
      ["c", 8],
    ] as const) {
      const job: Job = makeJob({
        outDir: join(dir, name),
        characters: [{ name: "walker", file: sample.fbx, sha256: "-" }],
        frames: { list: [0, 20] },
        cameras: {
          ...base.cameras,
          azimuthsDeg: [0, 90, 180, 270],
          jitter: JITTER,
          truncation: 0.5,
        },
        render: { ...base.render, resolution: [96, 96], samples: 2 },
        // The seed of the draws is scene.seed; no lights: the scene itself stays as today.
        scene: { seed, lights: {} },
      });
      await renderJob(job, { blender });
      runs[name] = {
        job,
        coco: annotationsSchema.parse(
          JSON.parse(readFileSync(join(dir, name, "renders/walker/annotations.json"), "utf8")),
        ),
      };
    }
  }, 600_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const draws = (coco: Annotations) =>
    coco.images.map((i) => (i.scene as { camera: CameraDraw }).camera);

  it("records every image's draws; the same seed repeats them and the pixels, another seed does not", async () => {
    const [a, b, c] = [runs.a!, runs.b!, runs.c!];
    expect(a.coco.images).toHaveLength(8);
    expect(draws(a.coco)).toEqual(draws(b.coco));
    expect(a.coco.images.map((i) => i.camera)).toEqual(b.coco.images.map((i) => i.camera));
    expect(draws(a.coco)).not.toEqual(draws(c.coco));
    // Pixels, not file bytes: Blender stamps the render time and date into the PNG's metadata.
    const hash = async (run: string, file: string) =>
      createHash("sha256")
        .update(
          await sharp(join(dir, run, "renders/walker", file))
            .raw()
            .toBuffer(),
        )
        .digest("hex");
    for (const image of a.coco.images)
      expect(await hash("a", image.file_name), image.file_name).toBe(
        await hash("b", image.file_name),
      );
    const lenses = new Set(draws(a.coco).map((d) => d.lensMm));
    expect(lenses.size).toBeGreaterThan(4); // drawn per image
    for (const d of draws(a.coco)) {
      expect(d.lensMm).toBeGreaterThanOrEqual(40);
      expect(d.lensMm).toBeLessThanOrEqual(70);
      expect(Math.abs(d.rollDeg)).toBeLessThanOrEqual(15);
    }
  });

  it("K follows the drawn lens, and visible keypoints fall on the rendered mask (>= 95%)", async () => {
    const { coco } = runs.a!;
    let visible = 0;
    let inside = 0;
    for (const image of coco.images) {
      const d = (image.scene as { camera: CameraDraw }).camera;
      expect(image.camera.K[0][0]).toBeCloseTo((d.lensMm / 36) * 96, 3);
      const alpha = await readAlpha(join(dir, "a/renders/walker", image.file_name));
      const kp = coco.annotations.find((a) => a.image_id === image.id)!.keypoints_mediapipe;
      const counted = visibleOnMask(alpha, kp);
      visible += counted.visible;
      inside += counted.inside;
    }
    expect(visible).toBeGreaterThan(50);
    expect(inside / visible).toBeGreaterThanOrEqual(0.95);
  });

  it("cuts the body only where truncation is allowed; cut joints get v = 0", async () => {
    const { coco } = runs.a!;
    let truncated = 0;
    for (const image of coco.images) {
      const d = (image.scene as { camera: CameraDraw }).camera;
      const kp = coco.annotations.find((a) => a.image_id === image.id)!.keypoints;
      const outside = kp.filter((_, i) => i % 3 === 2).filter((v) => v === 0).length;
      const stats = maskStats(await readAlpha(join(dir, "a/renders/walker", image.file_name)));
      if (!d.truncationAllowed) {
        expect(outside, image.file_name).toBe(0);
        expect(d.distanceMultiplier, image.file_name).toBeGreaterThanOrEqual(0.94);
      } else if (outside > 0) {
        truncated++;
        expect(stats.touchesBorder, image.file_name).toBe(true);
        for (let k = 0; k < 17; k++) {
          if (kp[k * 3 + 2] !== 0) continue;
          expect([kp[k * 3], kp[k * 3 + 1]]).toEqual([0, 0]);
        }
      }
    }
    expect(truncated).toBeGreaterThan(0);
    expect(truncated).toBeLessThan(coco.images.length);
  });
});
