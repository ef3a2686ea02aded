/**
 * Facing: azimuth 0 shows the character's front whichever way the file turns it. The sample
 * walker faces -Y; the same walker turned 180 deg (armature object rotated about Z, so the
 * rest pose's bones are unchanged and only matrix_world tells) faces +Y; a third walks facing
 * +X in every frame of its clip while its rest pose faces -Y. All must get their face at az000
 * (nose visible, the character's left wrist on the image's right) and their back at az180,
 * checked on the projected keypoints, their visibility and the rendered mask.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { annotationsSchema } from "../../src/detect/schema.js";
import { createSilentLogger } from "../../src/log.js";
import { createLocalExecutor } from "../../src/remote/local.js";
import type { Manifest } from "../../src/render/manifest.js";
import { BLENDER_DIR, blenderScriptCommand } from "../../src/render/sample.js";
import {
  describeEachBlender,
  getSampleCharacters,
  insideMask,
  makeJob,
  readAlpha,
  renderJob,
  type TestBlender,
} from "../helpers/blender.js";

const NOSE = 0;
const LEFT_WRIST = 9;
const RIGHT_WRIST = 10;

async function makeTurnedCharacter(
  dir: string,
  blender: TestBlender,
  name: string,
  args: string[],
): Promise<string> {
  const out = join(dir, `${name}.fbx`);
  const executor = createLocalExecutor({ logger: createSilentLogger(), baseDir: dir });
  const result = await executor.run(
    blenderScriptCommand(blender.setting, `${BLENDER_DIR}make_sample_character.py`, [
      "--out",
      out,
      ...args,
    ]),
  );
  expect(result.exitCode).toBe(0);
  return out;
}

/** Camera centre in world coordinates: -R^T t. */
function cameraCentre(R: number[][], t: number[]): number[] {
  return [0, 1, 2].map((j) => -(R[0]![j]! * t[0]! + R[1]![j]! * t[1]! + R[2]![j]! * t[2]!));
}

describeEachBlender(
  "render: azimuth 0 is the character's front, found from the rest pose",
  (blender) => {
    let dir: string;
    let manifest: Manifest;
    let outDir: string;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "pf-facing-"));
      outDir = join(dir, "run");
      const sample = await getSampleCharacters(blender);
      const turned = await makeTurnedCharacter(dir, blender, "turned", ["--turn-deg", "180"]);
      // Its rest pose faces -Y, its clip +X (like three.js's Soldier, whose rest pose is turned
      // 43.5 deg from the way its clips face).
      const clipTurned = await makeTurnedCharacter(dir, blender, "clip-turned", [
        "--clip-turn-deg",
        "90",
      ]);
      const base = makeJob({ characters: [], outDir: "" });
      manifest = await renderJob(
        makeJob({
          outDir,
          characters: [
            { name: "walker", file: sample.fbx, sha256: "-" },
            { name: "turned", file: turned, sha256: "-" },
            { name: "clipTurned", file: clipTurned, sha256: "-" },
          ],
          cameras: { ...base.cameras, azimuthsDeg: [0, 180], elevationsDeg: [10] },
          outputs: { ...base.outputs, mask: true },
        }),
        { blender },
      );
    });
    afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

    it("records the front's world azimuth per character: -Y is 0, +Y is 180", () => {
      const byName = new Map(manifest.characters.map((c) => [c.name, c]));
      expect(byName.get("walker")!.status).toBe("ok");
      expect(byName.get("turned")!.status).toBe("ok");
      expect(byName.get("walker")!.facingDeg).toBe(0);
      expect(byName.get("turned")!.facingDeg).toBe(180);
      // Where the rest pose and the clip agree, the clip keeps the rest pose's facing exactly.
      expect(byName.get("walker")!.clips[0]!.facingDeg).toBe(0);
      expect(byName.get("turned")!.clips[0]!.facingDeg).toBe(180);
      // The clip that faces +X throughout: the rest pose says 0, the clip's cameras follow 90.
      expect(byName.get("clipTurned")!.facingDeg).toBe(0);
      expect(Math.abs(byName.get("clipTurned")!.clips[0]!.facingDeg! - 90)).toBeLessThan(5);
      // The configured azimuths stay relative: both characters have the same view ids.
      for (const character of manifest.characters)
        expect(character.clips[0]!.cameras.map((c) => c.id)).toEqual(["az000_el10", "az180_el10"]);
    });

    it("puts the az000 camera in front of each character (-Y for the walker, +Y turned)", () => {
      // [name, axis the camera stands off along, its sign]
      for (const [name, axis, sign] of [
        ["walker", 1, -1],
        ["turned", 1, 1],
        ["clipTurned", 0, 1],
      ] as const) {
        const character = manifest.characters.find((c) => c.name === name)!;
        const coco = annotationsSchema.parse(
          JSON.parse(readFileSync(join(outDir, character.annotations!), "utf8")),
        );
        const front = coco.images.find((i) => i.view === "az000_el10")!;
        const centre = cameraCentre(front.camera.R, front.camera.t);
        const target = coco.annotations.find((a) => a.image_id === front.id)!.keypoints_3d[23]!;
        expect(Math.sign(centre[axis]! - target[axis]!), name).toBe(sign);
        expect(Math.abs(centre[1 - axis]! - target[1 - axis]!), name).toBeLessThan(0.5);
      }
    });

    it("shows the face at az000 and the back at az180 (keypoints, visibility, mask)", async () => {
      for (const character of manifest.characters) {
        const coco = annotationsSchema.parse(
          JSON.parse(readFileSync(join(outDir, character.annotations!), "utf8")),
        );
        for (const image of coco.images) {
          const kp = coco.annotations.find((a) => a.image_id === image.id)!.keypoints;
          const at = (k: number) => kp.slice(k * 3, k * 3 + 3) as [number, number, number];
          const where = `${character.name} ${image.view}`;
          const front = image.view === "az000_el10";
          // The character's left wrist is on the image's right when it faces the camera.
          if (front) expect(at(LEFT_WRIST)[0], where).toBeGreaterThan(at(RIGHT_WRIST)[0]);
          else expect(at(LEFT_WRIST)[0], where).toBeLessThan(at(RIGHT_WRIST)[0]);
          // The nose is seen from the front and hidden by the head from behind.
          expect(at(NOSE)[2], where).toBe(front ? 2 : 1);
          const mask = await readAlpha(
            join(
              outDir,
              `renders/${character.name}/${image.file_name}`.replace(".png", ".mask.png"),
            ),
          );
          const [x, y] = at(NOSE);
          expect(insideMask(mask, x, y), `${where}: nose on the mask`).toBe(true);
        }
      }
    });
  },
);
