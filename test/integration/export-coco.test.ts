/**
 * `posefactory export` on a real render (Blender, two characters, two clips), checked by the
 * tools people use: pycocotools loads the COCO export, decodes every RLE mask to the render's
 * own alpha (area and bbox too), and COCOeval's keypoint AP/AR on a set of detections equals
 * the AP/AR evaluation.json computes, to 3 decimals. The detections are the rig's truth moved
 * by seeded noise of growing size (some images without a pose, some with a second, worse pose),
 * written as real detection files, so AP lands well between 0 and 1. The YOLO-pose export and
 * the held-out splits are checked on the same run.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { evaluateRun } from "../../src/detect/evaluate.js";
import { readMask } from "../../src/detect/mask.js";
import { annotationsSchema, type Detection } from "../../src/detect/schema.js";
import { runExport } from "../../src/export/run.js";
import { getSampleCharacters, makeJob, renderJob } from "../helpers/blender.js";
import { runCli } from "../helpers/cli.js";

const HERE = dirname(fileURLToPath(import.meta.url));

function pycocotoolsPython(): string {
  return execFileSync("bash", [join(HERE, "../helpers/make-coco-venv.sh")], {
    encoding: "utf8",
  }).trim();
}

/** Deterministic noise in [-1, 1). */
function noise(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return a / 2 ** 31 - 1;
  };
}

const COCO_EVAL = `
import json, sys
import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from pycocotools import mask as maskUtils
gt = COCO(sys.argv[1])
dt = gt.loadRes(sys.argv[2])
ev = COCOeval(gt, dt, "keypoints")
ev.evaluate(); ev.accumulate(); ev.summarize()
masks = {}
for ann in gt.dataset["annotations"]:
    m = maskUtils.decode(ann["segmentation"])
    masks[gt.imgs[ann["image_id"]]["file_name"]] = {
        "area": float(maskUtils.area(ann["segmentation"])),
        "bbox": [float(v) for v in maskUtils.toBbox(ann["segmentation"])],
        "rows": ["".join(str(int(v)) for v in row) for row in m],
    }
print("RESULT" + json.dumps({"stats": [float(s) for s in ev.stats], "masks": masks}))
`;

describe("export: COCO and YOLO-pose from a rendered run", () => {
  const dir = mkdtempSync(join(tmpdir(), "pf-export-"));
  const runDir = join(dir, "data", "runs", "20261201-000000-export");
  let python: string;

  beforeAll(async () => {
    python = pycocotoolsPython();
    const sample = await getSampleCharacters();
    const base = makeJob({ characters: [], outDir: "" });
    await renderJob(
      makeJob({
        outDir: runDir,
        characters: [
          { name: "walker", file: sample.fbx, sha256: "-" },
          { name: "two-clips", file: sample.glb, sha256: "-" },
        ],
        frames: { list: [0, 20] },
        cameras: { ...base.cameras, azimuthsDeg: [0, 90, 180, 270] },
        render: { ...base.render, resolution: [96, 96], samples: 1 },
      }),
    );
    // Detections: the truth plus noise that grows from image to image.
    for (const character of ["walker", "two-clips"]) {
      const coco = annotationsSchema.parse(
        JSON.parse(readFileSync(join(runDir, "renders", character, "annotations.json"), "utf8")),
      );
      coco.images.forEach((image, n) => {
        const gt = coco.annotations.find((a) => a.image_id === image.id)!.keypoints_mediapipe;
        const random = noise(n * 7919 + character.length);
        const scale = 0.3 + (n % 9) * 1.1;
        const pose = (extra: number, presence: number) => ({
          landmarks: Array.from({ length: 33 }, (_, k) => {
            const px = gt[k * 3]! + random() * scale * extra;
            const py = gt[k * 3 + 1]! + random() * scale * extra;
            return { x: px / 96, y: py / 96, z: 0, px, py, visibility: 0.9, presence };
          }),
          worldLandmarks: Array.from({ length: 33 }, () => ({
            x: 0,
            y: 0,
            z: 0,
            visibility: 1,
            presence: 1,
          })),
        });
        const found = n % 7 !== 3;
        const poses = found ? [pose(1, 0.5 + 0.4 * Math.abs(random()))] : [];
        if (found && n % 5 === 1) poses.push(pose(6, 0.2 + 0.1 * Math.abs(random())));
        const detection: Detection = {
          version: 1,
          image: `renders/${character}/${image.file_name}`,
          width: 96,
          height: 96,
          backend: "web",
          model: { name: "noisy-truth", version: "1" },
          found,
          poses,
          seconds: 0,
        };
        const path = join(
          runDir,
          "detections",
          character,
          image.file_name.replace(".png", ".json"),
        );
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, JSON.stringify(detection));
      });
    }
  }, 600_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("COCOeval on the export gives our AP, AP50, AP75 and AR to 3 decimals; RLE masks decode to the render", async () => {
    const evaluation = await evaluateRun(runDir, { write: false });
    const result = await runExport(runDir, { format: "coco", split: "random", val: 0, seed: 0 });
    expect(result.files).toEqual(["annotations/person_keypoints_train.json"]);
    const gtPath = join(result.outDir, "annotations/person_keypoints_train.json");
    const gt = JSON.parse(readFileSync(gtPath, "utf8"));
    expect(gt.images).toHaveLength(1 * 4 * 2 + 2 * 4 * 2); // walker: 1 clip; two-clips: 2 clips
    // The detections in COCO's results format, by the export's image ids.
    const results: unknown[] = [];
    for (const image of gt.images) {
      const detection = JSON.parse(
        readFileSync(join(runDir, "detections", image.file_name.replace(".png", ".json")), "utf8"),
      ) as Detection;
      for (const pose of detection.poses) {
        const coco = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28];
        results.push({
          image_id: image.id,
          category_id: 1,
          keypoints: coco.flatMap((mp) => [pose.landmarks[mp]!.px, pose.landmarks[mp]!.py, 1]),
          score: coco.reduce((s, mp) => s + pose.landmarks[mp]!.presence, 0) / 17,
        });
      }
    }
    const resultsPath = join(dir, "results.json");
    writeFileSync(resultsPath, JSON.stringify(results));
    const scriptPath = join(dir, "cocoeval.py");
    writeFileSync(scriptPath, COCO_EVAL);
    const out = execFileSync(python, [scriptPath, gtPath, resultsPath], { encoding: "utf8" });
    const parsed = JSON.parse(out.split("RESULT")[1]!) as {
      stats: number[];
      masks: Record<string, { area: number; bbox: number[]; rows: string[] }>;
    };
    const [AP, AP50, AP75, , , AR] = parsed.stats as number[];
    const ours = evaluation.overall;
    expect(ours.AP!).toBeGreaterThan(0.05);
    expect(ours.AP!).toBeLessThan(0.95);
    expect(Math.abs(ours.AP! - AP!)).toBeLessThan(0.0005);
    expect(Math.abs(ours.AP50! - AP50!)).toBeLessThan(0.0005);
    expect(Math.abs(ours.AP75! - AP75!)).toBeLessThan(0.0005);
    expect(Math.abs(ours.AR! - AR!)).toBeLessThan(0.0005);
    // Every mask: pycocotools' decode equals the render's alpha; area and bbox agree.
    for (const annotation of gt.annotations) {
      const image = gt.images.find((i: { id: number }) => i.id === annotation.image_id);
      const decoded = parsed.masks[image.file_name]!;
      const mask = (await readMask(runDir, `renders/${image.file_name}`))!;
      const rows = Array.from({ length: mask.height }, (_, y) =>
        Array.from(mask.data.slice(y * mask.width, (y + 1) * mask.width)).join(""),
      );
      expect(decoded.rows).toEqual(rows);
      expect(annotation.area).toBe(decoded.area);
      expect(annotation.area).toBeGreaterThan(100);
      expect(annotation.bbox).toEqual(decoded.bbox);
    }
    // Stable ids: a second export (another split) gives every image the same id.
    const again = await runExport(runDir, {
      format: "coco",
      split: "character",
      val: 0.5,
      seed: 3,
    });
    const ids = new Map<string, number>();
    for (const split of ["train", "val"]) {
      const doc = JSON.parse(
        readFileSync(join(again.outDir, `annotations/person_keypoints_${split}.json`), "utf8"),
      );
      for (const image of doc.images) ids.set(image.file_name, image.id);
      for (const image of doc.images)
        expect(existsSync(join(again.outDir, "images", split, image.file_name))).toBe(true);
    }
    for (const image of gt.images) expect(ids.get(image.file_name)).toBe(image.id);
  });

  it("holds out whole characters or animations, reproducibly from the seed", async () => {
    const byCharacter = await runExport(runDir, {
      format: "coco",
      split: "character",
      val: 0.5,
      seed: 1,
    });
    expect(byCharacter.splits.train!.characters).toHaveLength(1);
    expect(byCharacter.splits.val!.characters).toHaveLength(1);
    expect(byCharacter.splits.train!.characters).not.toEqual(byCharacter.splits.val!.characters);
    const byClip = await runExport(runDir, {
      format: "coco",
      split: "animation",
      val: 0.34,
      seed: 5,
    });
    const val = JSON.parse(
      readFileSync(join(byClip.outDir, "annotations/person_keypoints_val.json"), "utf8"),
    );
    const train = JSON.parse(
      readFileSync(join(byClip.outDir, "annotations/person_keypoints_train.json"), "utf8"),
    );
    const clips = (doc: { images: { clip: string }[] }) => new Set(doc.images.map((i) => i.clip));
    expect(clips(val).size).toBe(1); // 3 clips (mixamo.com, Walk, Wave) x 0.34 -> 1
    for (const clip of clips(val)) expect(clips(train).has(clip)).toBe(false);
    const same = await runExport(runDir, {
      format: "coco",
      split: "animation",
      val: 0.34,
      seed: 5,
    });
    const valAgain = JSON.parse(
      readFileSync(join(same.outDir, "annotations/person_keypoints_val.json"), "utf8"),
    );
    expect(valAgain.images).toEqual(val.images);
  });

  it("writes YOLO-pose labels and data.yaml through the CLI", async () => {
    writeFileSync(join(dir, "posefactory.yaml"), "data: data\n");
    const cli = await runCli(
      [
        "export",
        "20261201-000000-export",
        "--format",
        "yolo",
        "--split",
        "character",
        "--seed",
        "2",
      ],
      { cwd: dir },
    );
    expect(cli.code, cli.stderr).toBe(0);
    const out = join(runDir, "export", "yolo");
    expect(cli.stdout).toContain(out);
    const data = parse(readFileSync(join(out, "data.yaml"), "utf8"));
    expect(data.kpt_shape).toEqual([17, 3]);
    expect(data.flip_idx).toEqual([0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]);
    expect(data.train).toBe("images/train");
    expect(data.names).toEqual({ 0: "person" });
    const label = join(out, "labels/train");
    const coco = annotationsSchema.parse(
      JSON.parse(readFileSync(join(runDir, "renders/walker/annotations.json"), "utf8")),
    );
    const image = coco.images[0]!;
    const split = existsSync(join(label, "walker", image.file_name.replace(".png", ".txt")))
      ? "train"
      : "val";
    const text = readFileSync(
      join(out, "labels", split, "walker", image.file_name.replace(".png", ".txt")),
      "utf8",
    );
    const values = text.trim().split(" ").map(Number);
    expect(values).toHaveLength(5 + 17 * 3);
    expect(values[0]).toBe(0);
    for (const v of values.slice(1, 5)) expect(v).toBeGreaterThan(0);
    const kp = coco.annotations.find((a) => a.image_id === image.id)!.keypoints;
    expect(values[5]!).toBeCloseTo(kp[0]! / 96, 5); // nose x, normalized
    expect(values[7]).toBe(kp[2]); // nose visibility
    expect(existsSync(join(out, "images", split, "walker", image.file_name))).toBe(true);
    const bad = await runCli(["export", "20261201-000000-export", "--val", "1"], { cwd: dir });
    expect(bad.code).toBe(2);
  });
});
