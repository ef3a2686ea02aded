/**
 * `animations`: a generated Mixamo-style "Without Skin" FBX (bones `mixamorig1:*`, another
 * prefix than the characters' `mixamorig:`) applied to the sample walker (FBX) and to the
 * two-clip GLB (glTF import: other bone axes), and to the walker turned 135 deg (its rest pose
 * faces another way than the file's, like three.js's Soldier). Checked on the render: the
 * retargeted clip moves as the animation says (right wrist above the head, the GLB's own Wave
 * has the same box, the turned walker waves like the walker turned by 135 deg), >= 95% of its
 * visible keypoints lie on the mask, and a broken file is listed, not fatal.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { annotationsSchema } from "../../src/detect/schema.js";
import { createSilentLogger } from "../../src/log.js";
import { createLocalExecutor } from "../../src/remote/local.js";
import { blenderScriptCommand } from "../../src/render/launcher.js";
import type { Manifest } from "../../src/render/manifest.js";
import {
  describeEachBlender,
  getSampleCharacters,
  makeJob,
  readAlpha,
  renderJob,
  visibleOnMask,
} from "../helpers/blender.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const RIGHT_WRIST = 16;
const NOSE = 0;

describeEachBlender("render: an animation file applied to other characters", (blender) => {
  const dir = mkdtempSync(join(tmpdir(), "pf-anim-"));
  const outDir = join(dir, "run");
  let manifest: Manifest;

  beforeAll(async () => {
    const animations = join(dir, "animations");
    mkdirSync(animations);
    const executor = createLocalExecutor({ logger: createSilentLogger(), baseDir: dir });
    const made = await executor.run(
      blenderScriptCommand(blender.setting, join(HERE, "../helpers/make_animation.py"), [
        "--out",
        join(animations, "wave.fbx"),
      ]),
    );
    expect(made.exitCode).toBe(0);
    writeFileSync(join(animations, "broken.fbx"), "not an FBX file at all");
    const turned = join(dir, "turned.fbx");
    const madeTurned = await executor.run(
      blenderScriptCommand(blender.setting, join(HERE, "../../blender/make_sample_character.py"), [
        "--out",
        turned,
        "--turn-deg",
        "135",
      ]),
    );
    expect(madeTurned.exitCode).toBe(0);
    const sample = await getSampleCharacters(blender);
    const base = makeJob({ characters: [], outDir: "" });
    manifest = await renderJob(
      {
        ...makeJob({
          outDir,
          characters: [
            { name: "walker", file: sample.fbx, sha256: "-" },
            { name: "two-clips", file: sample.glb, sha256: "-" },
            { name: "turned", file: turned, sha256: "-" },
          ],
          frames: { list: [0, 5, 10] },
          cameras: { ...base.cameras, azimuthsDeg: [0, 90, 180, 270] },
          render: { ...base.render, resolution: [96, 96], samples: 2 },
        }),
        animations,
      },
      { blender },
    );
  }, 600_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const character = (name: string) => manifest.characters.find((c) => c.name === name)!;

  it("adds a clip named after the file to every character; a broken file is listed, not fatal", () => {
    for (const [name, clip] of [
      ["walker", "wave"],
      ["two-clips", "wave_"], // "Wave" is taken (case-insensitively) by the GLB's own clip
      ["turned", "wave"],
    ]) {
      const c = character(name!);
      expect(c.status, c.error).toBe("ok");
      expect(c.animations).toEqual([
        expect.objectContaining({ file: "broken.fbx", status: "skipped" }),
        expect.objectContaining({ file: "wave.fbx", clip, status: "applied" }),
      ]);
      expect(c.animations![0]!.reason).toContain("cannot import");
      expect(c.clips.map((k) => k.name)).toContain(clip);
      expect(c.images.filter((i) => i.clip === clip)).toHaveLength(3 * 4);
    }
  });

  it("moves as the animation says: the GLB's retargeted wave has the box of its own Wave", () => {
    const glb = character("two-clips");
    const own = glb.clips.find((k) => k.name === "Wave")!.bbox;
    const retargeted = glb.clips.find((k) => k.name === "wave_")!.bbox;
    for (const corner of ["min", "max"] as const)
      for (let i = 0; i < 3; i++) expect(retargeted[corner][i]).toBeCloseTo(own[corner][i]!, 2);
    const coco = annotationsSchema.parse(
      JSON.parse(readFileSync(join(outDir, character("walker").annotations!), "utf8")),
    );
    for (const a of coco.annotations) {
      const image = coco.images.find((i) => i.id === a.image_id)!;
      if (image.clip !== "wave") continue;
      expect(a.keypoints_3d[RIGHT_WRIST]![2]).toBeGreaterThan(a.keypoints_3d[NOSE]![2]);
    }
  });

  it("turns the motion to a character whose rest pose faces another way", () => {
    const coco = (name: string) =>
      annotationsSchema.parse(
        JSON.parse(readFileSync(join(outDir, character(name).annotations!), "utf8")),
      );
    const HIPS = 23;
    // Per frame: the right wrist relative to the hips, in world axes.
    const offsets = (name: string) => {
      const c = coco(name);
      const byFrame = new Map<number, number[]>();
      for (const a of c.annotations) {
        const image = c.images.find((i) => i.id === a.image_id)!;
        if (image.clip !== "wave") continue;
        const w = a.keypoints_3d[RIGHT_WRIST]!;
        const h = a.keypoints_3d[HIPS]!;
        byFrame.set(image.frame, [w[0]! - h[0]!, w[1]! - h[1]!, w[2]! - h[2]!]);
      }
      return byFrame;
    };
    const walker = offsets("walker");
    const turned = offsets("turned");
    expect(turned.size).toBe(3);
    const c = Math.cos((135 * Math.PI) / 180);
    const s = Math.sin((135 * Math.PI) / 180);
    for (const [frame, [x, y, z]] of walker) {
      const t = turned.get(frame)!;
      expect(t[0]).toBeCloseTo(c * x! - s * y!, 2);
      expect(t[1]).toBeCloseTo(s * x! + c * y!, 2);
      expect(t[2]).toBeCloseTo(z!, 2);
    }
  });

  it("renders the retargeted clips with >= 95% of visible keypoints on the mask", async () => {
    let visible = 0;
    let inside = 0;
    for (const name of ["walker", "two-clips", "turned"]) {
      const c = character(name);
      const coco = annotationsSchema.parse(
        JSON.parse(readFileSync(join(outDir, c.annotations!), "utf8")),
      );
      for (const image of coco.images.filter((i) => i.clip.startsWith("wave"))) {
        const alpha = await readAlpha(join(outDir, "renders", name, image.file_name));
        const kp = coco.annotations.find((a) => a.image_id === image.id)!.keypoints_mediapipe;
        const counted = visibleOnMask(alpha, kp);
        visible += counted.visible;
        inside += counted.inside;
      }
    }
    expect(visible).toBeGreaterThan(200);
    expect(inside / visible).toBeGreaterThanOrEqual(0.95);
  });
});
