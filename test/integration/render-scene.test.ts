/**
 * scene: randomized backgrounds and lights with real Blender. The test writes its own
 * backgrounds (a small Radiance .hdr, a .jpg plate made with sharp): no downloads. Checked:
 * every image records its draws; HDRI images show the HDRI's colour around the body, plate
 * images the plate; the mask is the character only (it matches the alpha of the same cameras
 * rendered without a scene); the same seed gives the same draws and pixels, another seed
 * other draws; without backgrounds the world is a random sky.
 */
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, expect, it } from "vitest";
import { evaluateRun } from "../../src/detect/evaluate.js";
import { buildReport } from "../../src/detect/report.js";
import { type Annotations, annotationsSchema } from "../../src/detect/schema.js";
import type { Job } from "../../src/render/job.schema.js";
import { writeBackgrounds } from "../helpers/backgrounds.js";
import {
  describeEachBlender,
  getSampleCharacters,
  makeJob,
  readAlpha,
  renderJob,
} from "../helpers/blender.js";

const LIGHTS = {
  count: [1, 2] as [number, number],
  energy: [1, 4] as [number, number],
  temperatureK: [3500, 7500] as [number, number],
  elevationDeg: [20, 70] as [number, number],
  azimuthDeg: [-180, 180] as [number, number],
};
const SIZE = 80;

interface Drawn {
  background: { kind: string; file?: string };
  lights: { energy: number; temperatureK: number }[];
  lightLevel: number;
}

describeEachBlender("render: scene randomization (backgrounds, sky, lights), seeded", (blender) => {
  const dir = mkdtempSync(join(tmpdir(), "pf-scene-"));
  const backgrounds = join(dir, "backgrounds");
  const runs: Record<string, Annotations> = {};
  const outDir = (name: string) => join(dir, name);

  beforeAll(async () => {
    mkdirSync(backgrounds);
    // A green HDRI and a plate blue everywhere (distinct from each other and from the skin).
    await writeBackgrounds(backgrounds);
    const sample = await getSampleCharacters(blender);
    const base = makeJob({ characters: [], outDir: "" });
    const job = (name: string, scene: Job["scene"]): Job =>
      makeJob({
        outDir: outDir(name),
        characters: [{ name: "walker", file: sample.fbx, sha256: "-" }],
        frames: { list: [0, 20] },
        cameras: { ...base.cameras, azimuthsDeg: [0, 120, 240] },
        render: { ...base.render, resolution: [SIZE, SIZE], samples: 2 },
        ...(scene ? { scene } : {}),
      });
    const plans: [string, Job["scene"]][] = [
      ["a", { seed: 5, backgrounds, lights: LIGHTS }],
      ["b", { seed: 5, backgrounds, lights: LIGHTS }],
      ["c", { seed: 6, backgrounds, lights: LIGHTS }],
      ["sky", { seed: 5, lights: LIGHTS }],
      ["plain", undefined],
      [
        "occluded",
        {
          seed: 2,
          lights: {},
          appearance: { hue: [-0.3, 0.3], saturation: [0.5, 1.5], value: [0.6, 1.2] },
          occluders: { probability: 1, sizeM: [0.4, 0.6] },
        },
      ],
    ];
    for (const [name, scene] of plans) {
      await renderJob(job(name, scene), { blender });
      runs[name] = annotationsSchema.parse(
        JSON.parse(readFileSync(join(outDir(name), "renders/walker/annotations.json"), "utf8")),
      );
    }
  }, 600_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const drawnOf = (coco: Annotations) => coco.images.map((i) => i.scene as unknown as Drawn);

  it("records each image's background and lights, within the configured ranges", () => {
    const drawn = drawnOf(runs.a!);
    expect(drawn).toHaveLength(6);
    const kinds = new Set(drawn.map((d) => d.background.kind));
    expect(kinds).toEqual(new Set(["hdri", "image"]));
    for (const d of drawn) {
      expect(d.lights.length).toBeGreaterThanOrEqual(1);
      expect(d.lights.length).toBeLessThanOrEqual(2);
      for (const light of d.lights) {
        expect(light.energy).toBeGreaterThanOrEqual(1);
        expect(light.energy).toBeLessThanOrEqual(4);
        expect(light.temperatureK).toBeGreaterThanOrEqual(3500);
      }
      expect(d.lightLevel).toBeCloseTo(
        d.lights.reduce((s, l) => s + l.energy, 0),
        3,
      );
    }
    expect(new Set(drawnOf(runs.sky!).map((d) => d.background.kind))).toEqual(new Set(["sky"]));
    expect(runs.plain!.images[0]!.scene).toBeUndefined();
  });

  it("same seed: same draws and pixels; another seed: other draws", async () => {
    expect(drawnOf(runs.a!)).toEqual(drawnOf(runs.b!));
    expect(drawnOf(runs.a!)).not.toEqual(drawnOf(runs.c!));
    const pixels = async (run: string, file: string) =>
      createHash("sha256")
        .update(
          await sharp(join(outDir(run), "renders/walker", file))
            .raw()
            .toBuffer(),
        )
        .digest("hex");
    for (const image of runs.a!.images)
      expect(await pixels("a", image.file_name)).toBe(await pixels("b", image.file_name));
  });

  it("shows the background around the body and keeps the mask to the character", async () => {
    for (const image of runs.a!.images) {
      const d = image.scene as unknown as Drawn;
      const file = join(outDir("a"), "renders/walker", image.file_name);
      const mask = await readAlpha(file.replace(".png", ".mask.png")).catch(() => undefined);
      const grey = await sharp(file.replace(".png", ".mask.png")).greyscale().raw().toBuffer();
      const plain = await readAlpha(join(outDir("plain"), "renders/walker", image.file_name));
      // Mask = the character: the same silhouette as the transparent render's alpha.
      let both = 0;
      let either = 0;
      for (let i = 0; i < SIZE * SIZE; i++) {
        const m = grey[i]! >= 128;
        const p = plain.alpha[i]! >= 128;
        if (m && p) both++;
        if (m || p) either++;
      }
      expect(mask).toBeDefined();
      expect(both / either, image.file_name).toBeGreaterThan(0.9);
      // Around the body: the background's colour, opaque.
      const { data, info } = await sharp(file)
        .ensureAlpha()
        .raw()
        .toBuffer({ resolveWithObject: true });
      let r = 0;
      let g = 0;
      let b = 0;
      let n = 0;
      for (let i = 0; i < SIZE * SIZE; i++) {
        if (grey[i]! > 0) continue;
        expect(data[i * info.channels + 3]).toBe(255);
        r += data[i * info.channels]!;
        g += data[i * info.channels + 1]!;
        b += data[i * info.channels + 2]!;
        n++;
      }
      const where = `${image.file_name}: ${d.background.kind} mean ${[r / n, g / n, b / n].map(Math.round)}`;
      if (d.background.kind === "hdri")
        expect(g / n, where).toBeGreaterThan(1.5 * Math.max(r / n, b / n));
      else expect(b / n, where).toBeGreaterThan(1.5 * Math.max(r / n, g / n));
    }
  });

  it("occluders hide joints for real (v = 1), stay out of the mask; appearance changes the colours", async () => {
    const coco = runs.occluded!;
    let hidden = 0;
    let visible = 0;
    let onMask = 0;
    let recoloured = 0;
    for (const image of coco.images) {
      const drawn = image.scene as {
        occluder: { hiddenJoints: number } | null;
        appearance: { hue: number };
      };
      expect(drawn.occluder).not.toBeNull();
      expect(typeof drawn.appearance.hue).toBe("number");
      hidden += drawn.occluder!.hiddenJoints;
      const file = join(outDir("occluded"), "renders/walker", image.file_name);
      const mask = await sharp(file.replace(".png", ".mask.png")).greyscale().raw().toBuffer();
      const kp = coco.annotations.find((a) => a.image_id === image.id)!.keypoints_mediapipe;
      for (let k = 0; k < 33; k++) {
        if (kp[k * 3 + 2] !== 2) continue;
        visible++;
        const x = Math.floor(kp[k * 3]!);
        const y = Math.floor(kp[k * 3 + 1]!);
        if (x >= 0 && y >= 0 && x < SIZE && y < SIZE && mask[y * SIZE + x]! >= 128) onMask++;
      }
      // The skin's mean colour inside the mask, against the same view rendered plain.
      const mean = async (path: string) => {
        const { data, info } = await sharp(path).raw().toBuffer({ resolveWithObject: true });
        const sum = [0, 0, 0];
        let n = 0;
        for (let i = 0; i < SIZE * SIZE; i++) {
          if (mask[i]! < 250) continue;
          for (let c = 0; c < 3; c++) sum[c]! += data[i * info.channels + c]!;
          n++;
        }
        return sum.map((v) => v / Math.max(1, n));
      };
      const own = await mean(file);
      const plain = await mean(join(outDir("plain"), "renders/walker", image.file_name));
      if (Math.max(...own.map((v, c) => Math.abs(v - plain[c]!))) > 12) recoloured++;
    }
    expect(hidden).toBeGreaterThan(0);
    expect(onMask / visible).toBeGreaterThanOrEqual(0.95);
    expect(recoloured).toBeGreaterThan(coco.images.length / 2);
  });

  it("reports the variety (a strip of backgrounds and light) and quality by condition", async () => {
    const runDir = outDir("a");
    const evaluation = await evaluateRun(runDir);
    const byBackground = evaluation.perCondition.background!;
    expect(Object.keys(byBackground).sort()).toEqual(["hdri green.hdr", "image blue.jpg"]);
    const counted = Object.values(byBackground).reduce((n, s) => n + s.images, 0);
    expect(counted).toBe(6);
    expect(Object.keys(evaluation.perCondition.lightLevel!).length).toBeGreaterThan(0);
    expect(evaluation.images[0]!.conditions.background).toBeDefined();
    await buildReport(runDir, evaluation);
    const html = readFileSync(join(runDir, "report.html"), "utf8");
    const strip = html.slice(
      html.indexOf('id="variety"'),
      html.indexOf("</div>", html.indexOf('id="variety"')),
    );
    expect(strip.match(/<figure>/g)?.length).toBe(6);
    expect(strip).toContain("hdri green.hdr");
    expect(strip).toContain("image blue.jpg");
    expect(html).toContain("<h2>Per condition</h2>");
    expect(html).toContain("<h4>background</h4>");
  });
});
