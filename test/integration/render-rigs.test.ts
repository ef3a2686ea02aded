/**
 * Characters beyond Mixamo, rendered with real Blender: a real Rigify rig (human metarig ->
 * generated rig, animated through its controls) and the sample mannequin rebuilt with DAZ,
 * Unreal, Character Creator, VRM and MakeHuman/MPFB skeletons, names, proportions and axis
 * habits, exported to FBX/GLB and imported back (blender/make_rig_character.py). Each must be
 * detected as its profile, with ground truth on the body and the character's left on the
 * image's right seen from the front.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { annotationsSchema } from "../../src/detect/schema.js";
import type { Job } from "../../src/render/job.schema.js";
import type { Manifest } from "../../src/render/manifest.js";
import {
  type AlphaImage,
  describeEachBlender,
  getRigCharacters,
  insideMask,
  makeJob,
  RIG_CONVENTIONS,
  type RigConvention,
  readAlpha,
  renderJob,
} from "../helpers/blender.js";

type Profiled = Exclude<RigConvention, "biped">;
const CONVENTIONS = (Object.keys(RIG_CONVENTIONS) as RigConvention[]).filter(
  (c): c is Profiled => c !== "biped",
);
// MediaPipe indices: left/right shoulder, wrist, hip.
const PAIRS: [string, number, number][] = [
  ["shoulder", 11, 12],
  ["wrist", 15, 16],
  ["hip", 23, 24],
];
// Height of each generated character (make_rig_character.py SHAPE; Rigify's metarig ~2 m).
const HEIGHT_M: Record<Profiled, number> = {
  daz: 1.75,
  unreal: 1.8,
  cc: 1.7,
  vrm: 1.55,
  mpfb: 1.65,
  rigify: 2.0,
};

describeEachBlender("render: Rigify and generated DAZ/Unreal/CC/VRM/MPFB characters", (blender) => {
  const temp = mkdtempSync(join(tmpdir(), "pf-rigs-"));
  let job: Job;
  let manifest: Manifest;
  const alpha = new Map<string, AlphaImage>();

  beforeAll(async () => {
    const files = await getRigCharacters(blender);
    job = makeJob({
      outDir: join(temp, "run"),
      characters: CONVENTIONS.map((c) => ({ name: c, file: files[c], sha256: "-" })),
      frames: { list: [0, 11] }, // rest-ish, then mid-animation (the arm is up)
      cameras: {
        ...makeJob({ characters: [], outDir: "" }).cameras,
        azimuthsDeg: [0, 90, 180, 270],
        elevationsDeg: [10],
      },
    });
    manifest = await renderJob(job, { blender });
    for (const character of manifest.characters)
      for (const image of character.images)
        alpha.set(image.path, await readAlpha(join(job.outDir, image.path)));
  }, 600_000); // making six characters with a bpy wheel on 2 busy cores takes minutes
  afterAll(() => rmSync(temp, { recursive: true, force: true }));

  function annotationsOf(name: Profiled) {
    const character = manifest.characters.find((c) => c.name === name)!;
    const annotations = annotationsSchema.parse(
      JSON.parse(readFileSync(join(job.outDir, character.annotations!), "utf8")),
    );
    const images = new Map(annotations.images.map((i) => [i.id, i]));
    return annotations.annotations.map((a) => ({ annotation: a, image: images.get(a.image_id)! }));
  }

  it("detects each character's profile from its bone names, with every required joint", () => {
    for (const name of CONVENTIONS) {
      const character = manifest.characters.find((c) => c.name === name)!;
      expect(character.status, `${name}: ${character.error}`).toBe("ok");
      expect(character.rig, name).toMatchObject({ profile: name, score: 1 });
    }
    const bones = (name: Profiled) =>
      manifest.characters.find((c) => c.name === name)!.rig!.mappedBones;
    expect(bones("rigify")).toMatchObject({
      left_shoulder: "DEF-upper_arm.L",
      left_knee: "DEF-shin.L",
      head: "DEF-spine.006",
    });
    expect(bones("daz")).toMatchObject({ left_shoulder: "lShldrBend", left_elbow: "lForearmBend" });
    expect(bones("unreal")).toMatchObject({ left_knee: "calf_l", left_toe: "ball_l" });
    expect(bones("cc")).toMatchObject({ left_shoulder: "CC_Base_L_Upperarm" });
    expect(bones("vrm")).toMatchObject({ left_elbow: "J_Bip_L_LowerArm" });
    expect(bones("mpfb")).toMatchObject({ left_wrist: "wrist.L" });
  });

  it("keeps each tool's units and axes: heights in metres, Unreal's body facing +X", () => {
    for (const name of CONVENTIONS) {
      // the nose (MediaPipe 0) of the first frame sits at about 0.9 of the height
      const all = annotationsOf(name);
      const start = Math.min(...all.map(({ image }) => image.frame));
      const first = all.find(({ image }) => image.frame === start);
      const nose = first!.annotation.keypoints_3d[0]![2]!;
      expect(nose / HEIGHT_M[name], name).toBeGreaterThan(0.8);
      expect(nose / HEIGHT_M[name], name).toBeLessThan(1.0);
    }
    const facing = (name: Profiled) => manifest.characters.find((c) => c.name === name)!.facingDeg;
    expect(facing("unreal")).toBeCloseTo(90, 0);
    expect(facing("daz")).toBeCloseTo(0, 0);
  });

  for (const name of CONVENTIONS) {
    it(`${name}: >= 95% of visible keypoints on the mask, left on the image's right from the front`, () => {
      let visible = 0;
      let inside = 0;
      const misses: string[] = [];
      for (const { annotation, image } of annotationsOf(name)) {
        const mask = alpha.get(`renders/${name}/${image.file_name}`)!;
        const kp = annotation.keypoints_mediapipe;
        for (let k = 0; k < 33; k++) {
          const [x, y, v] = kp.slice(k * 3, k * 3 + 3) as [number, number, number];
          if (v !== 2) continue;
          visible++;
          if (insideMask(mask, x, y)) inside++;
          else misses.push(`${image.file_name} #${k} (${x.toFixed(1)}, ${y.toFixed(1)})`);
        }
        if (image.view === "az000_el10") {
          for (const [part, left, right] of PAIRS) {
            expect(kp[left * 3]!, `${name} ${image.file_name} ${part}`).toBeGreaterThan(
              kp[right * 3]!,
            );
          }
        }
      }
      expect(visible, name).toBeGreaterThan(100);
      expect(inside / visible, `${name}\n${misses.slice(0, 10).join("\n")}`).toBeGreaterThanOrEqual(
        0.95,
      );
    });
  }

  it("follows the animation: the right wrist moves between the two frames", () => {
    for (const name of CONVENTIONS) {
      const front = annotationsOf(name).filter(({ image }) => image.view === "az000_el10");
      expect(front, name).toHaveLength(2);
      const [a, b] = front.map(({ annotation }) => annotation.keypoints_3d[16]!);
      const moved = Math.hypot(a![0]! - b![0]!, a![1]! - b![1]!, a![2]! - b![2]!);
      expect(moved, name).toBeGreaterThan(0.1);
    }
  });
});
