/**
 * An unknown rig (3ds Max Biped names, which no built-in profile has) with real Blender: the
 * character fails with one clear error (its bones, the closest profile and what it lacks, a
 * `rigs:` block to paste) while the others render; the printed block is valid config, and
 * with it in the job the same character renders, its profile recorded in the manifest.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { parseConfigText } from "../../src/config/load.js";
import { annotationsSchema } from "../../src/detect/schema.js";
import type { Job } from "../../src/render/job.schema.js";
import type { Manifest } from "../../src/render/manifest.js";
import {
  describeEachBlender,
  getRigCharacters,
  getSampleCharacters,
  insideMask,
  makeJob,
  readAlpha,
  renderJob,
} from "../helpers/blender.js";

const DISPLAY = "Biped Hero";

describeEachBlender(
  "render: an unknown rig, then mapped with the printed rigs: block",
  (blender) => {
    const temp = mkdtempSync(join(tmpdir(), "pf-unknown-rig-"));
    let first: Manifest;
    let block: string;
    let mapped: { job: Job; manifest: Manifest };
    let sample = "";

    const jobFor = (outDir: string, files: Record<string, string>, rigs?: Job["rigs"]): Job =>
      makeJob({
        outDir,
        characters: [
          { name: "biped-hero", displayName: DISPLAY, file: files.biped!, sha256: "-" },
          { name: "walker", file: sample, sha256: "-" },
        ],
        cameras: { ...makeJob({ characters: [], outDir: "" }).cameras, azimuthsDeg: [0, 90] },
        ...(rigs ? { rigs } : {}),
      });

    beforeAll(async () => {
      const files = await getRigCharacters(blender, ["biped"]);
      sample = (await getSampleCharacters(blender)).fbx;
      first = await renderJob(jobFor(join(temp, "first"), files), { blender });
      const error = first.characters.find((c) => c.name === "biped-hero")?.error ?? "";
      block = error.slice(error.indexOf("\nrigs:\n") + 1);
      const config = parseConfigText(block, "pasted.yaml");
      const job = jobFor(join(temp, "mapped"), files, config.rigs);
      mapped = { job, manifest: await renderJob(job, { blender }) };
    }, 600_000); // making the characters with a bpy wheel on 2 busy cores takes minutes
    afterAll(() => rmSync(temp, { recursive: true, force: true }));

    it("fails only that character, with its bones, the closest profile and what it lacks", () => {
      const biped = first.characters.find((c) => c.name === "biped-hero")!;
      const walker = first.characters.find((c) => c.name === "walker")!;
      expect(walker.status).toBe("ok");
      expect(biped.status).toBe("failed");
      expect(biped.rig).toBeUndefined();
      const error = biped.error!;
      expect(error).toMatch(/^biped\.fbx: unknown rig: no rig profile fits its bones\./);
      // Biped shares no name with any profile (the closest one and its gaps: rig-profiles.test.ts)
      expect(error).toMatch(/None of the profiles \(mixamo, [a-z, ]+\) finds any of its joints\./);
      expect(error).toMatch(/Bones found \(\d+\): .*Bip01 L UpperArm/);
      expect(error).toContain("Map the joints to bones");
    });

    it("prints a rigs: block that is valid config, with guesses marked and the character assigned", () => {
      const config = parseConfigText(block, "pasted.yaml");
      const profile = config.rigs.assign[DISPLAY]!;
      expect(profile).toBe("Biped_Hero");
      expect(config.rigs.profiles[profile]).toMatchObject({
        left_shoulder: "Bip01 L UpperArm",
        right_elbow: "Bip01 R Forearm",
        left_wrist: "Bip01 L Hand",
        right_knee: "Bip01 R Calf",
        left_ankle: "Bip01 L Foot",
        hips: "Bip01 Pelvis",
      });
      expect(block).toContain("# a guess: check it");
    });

    it("renders the character with that block, recording the user's profile", async () => {
      const biped = mapped.manifest.characters.find((c) => c.name === "biped-hero")!;
      expect(biped.status, biped.error).toBe("ok");
      expect(biped.rig).toMatchObject({ profile: "Biped_Hero", score: 1 });
      const annotations = annotationsSchema.parse(
        JSON.parse(readFileSync(join(mapped.job.outDir, biped.annotations!), "utf8")),
      );
      const images = new Map(annotations.images.map((i) => [i.id, i]));
      let visible = 0;
      let inside = 0;
      for (const annotation of annotations.annotations) {
        const image = images.get(annotation.image_id)!;
        const mask = await readAlpha(
          join(mapped.job.outDir, "renders/biped-hero", image.file_name),
        );
        for (let k = 0; k < 33; k++) {
          const [x, y, v] = annotation.keypoints_mediapipe.slice(k * 3, k * 3 + 3) as number[];
          if (v !== 2) continue;
          visible++;
          if (insideMask(mask, x!, y!)) inside++;
        }
        if (image.view === "az000_el10") {
          const kp = annotation.keypoints_mediapipe;
          expect(kp[15 * 3]!).toBeGreaterThan(kp[16 * 3]!); // left wrist on the image's right
        }
      }
      expect(visible).toBeGreaterThan(20);
      expect(inside / visible).toBeGreaterThanOrEqual(0.95);
    });
  },
);
