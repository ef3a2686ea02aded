/**
 * blender/detect_pose.py with plain python3 (no mediapipe here): argument parsing, batching,
 * resuming, the JSON it writes (checked against the TypeScript detectionSchema), and the
 * message when mediapipe is missing, with MediaPipe swapped for the script's fake; then the
 * real mediapipe package of the pod's venv on real renders, against the web backend.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ResolvedModel } from "../../src/detect/model.js";
import { type Detection, detectionSchema } from "../../src/detect/schema.js";
import { openWebDetector } from "../../src/detect/web.js";
import { createSilentLogger } from "../../src/log.js";
import {
  describeWithPodPython,
  getSampleCharacters,
  makeJob,
  renderJob,
} from "../helpers/blender.js";
import { buildPoseModel } from "../helpers/pose-models.js";

const SCRIPT = fileURLToPath(new URL("../../blender/detect_pose.py", import.meta.url));
const PYTHON = process.env.POSEFACTORY_TEST_PYTHON ?? "python3";

function runScript(args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(PYTHON, [SCRIPT, ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

let dir: string;
let runDir: string;
const IMAGES = [
  "renders/walker/walk/az000_el10/f0001.png",
  "renders/walker/walk/az000_el10/f0011.png",
  "renders/walker/walk/az090_el10/f0001.png",
  "renders/walker/walk/az090_el10/f0011.png",
  "renders/empty/walk/az000_el10/f0001.png",
];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "pf-detect-py-"));
  runDir = join(dir, "run");
  for (const image of IMAGES) {
    mkdirSync(join(runDir, image, ".."), { recursive: true });
    await sharp({
      create: { width: 96, height: 64, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } },
    })
      .png()
      .toFile(join(runDir, image));
  }
  // Not a render: masks and depth maps next to the frames are skipped.
  writeFileSync(join(runDir, "renders/walker/walk/az000_el10/f0001_mask.png"), "not read");
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("detect_pose.py", () => {
  it("rejects bad arguments with exit code 2 and a usage line", () => {
    const missing = runScript([]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--run-dir/);
    const badModel = runScript(["--run-dir", runDir, "--model", "huge"]);
    expect(badModel.code).toBe(2);
    expect(badModel.stderr).toMatch(/invalid choice: 'huge'/);
    const badConfidence = runScript(["--run-dir", runDir, "--min-pose-detection-confidence", "2"]);
    expect(badConfidence.code).toBe(2);
    expect(badConfidence.stderr).toMatch(/between 0 and 1/);
    expect(runScript(["--run-dir", join(dir, "nope")]).stderr).toMatch(/is not a folder/);
  });

  it("says to run `posefactory setup-pod` when mediapipe is missing", () => {
    const model = join(dir, "model.task");
    writeFileSync(model, "PK");
    const result = runScript(["--run-dir", runDir, "--model-path", model]);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/mediapipe is not installed/);
    expect(result.stderr).toMatch(/posefactory setup-pod/);
    expect(existsSync(join(runDir, "detections"))).toBe(false);
  });

  it("says so when the model file is missing", () => {
    const result = runScript(["--run-dir", runDir], {
      POSEFACTORY_CACHE_DIR: join(dir, "empty-cache"),
    });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/pose_landmarker_full\.task not found.*setup-pod/);
  });

  it("writes one schema-valid detection per render, in batches, and resumes", () => {
    const summaryPath = join(dir, "summary.json");
    const first = runScript([
      "--run-dir",
      runDir,
      "--fake-landmarker",
      "--batch-size",
      "2",
      "--summary",
      summaryPath,
    ]);
    expect(first.stderr).toMatch(/5 images to detect/);
    expect(first.code).toBe(0);
    // 5 images in batches of 2: three progress lines.
    expect(first.stderr.match(/batch \d\/3/g)).toEqual(["batch 1/3", "batch 2/3", "batch 3/3"]);
    for (const image of IMAGES) {
      const path = join(
        runDir,
        image.replace(/^renders\//, "detections/").replace(/\.png$/, ".json"),
      );
      const detection = detectionSchema.parse(JSON.parse(readFileSync(path, "utf8")));
      expect(detection.image).toBe(image);
      expect(detection.backend).toBe("python");
      expect([detection.width, detection.height]).toEqual([96, 64]);
      if (image.includes("empty")) {
        expect(detection.found).toBe(false);
        expect(detection.poses).toEqual([]);
      } else {
        expect(detection.found).toBe(true);
        const nose = detection.poses[0]!.landmarks[0]!;
        expect(nose.px).toBeCloseTo(nose.x * 96, 9);
        expect(nose.py).toBeCloseTo(nose.y * 64, 9);
        // presence left unset by the model falls back to visibility
        expect(nose.presence).toBe(nose.visibility);
      }
    }
    expect(existsSync(join(runDir, "detections/walker/walk/az000_el10/f0001_mask.json"))).toBe(
      false,
    );
    const summary = JSON.parse(readFileSync(summaryPath, "utf8"));
    expect(summary).toMatchObject({ images: 5, detected: 5, found: 4, skipped: 0, failed: [] });

    const again = runScript(["--run-dir", runDir, "--fake-landmarker", "--summary", summaryPath]);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/already detected/);
    expect(JSON.parse(readFileSync(summaryPath, "utf8"))).toMatchObject({
      detected: 0,
      skipped: 5,
    });

    const forced = runScript([
      "--run-dir",
      runDir,
      "--fake-landmarker",
      "--force",
      "--summary",
      summaryPath,
    ]);
    expect(forced.code).toBe(0);
    expect(JSON.parse(readFileSync(summaryPath, "utf8"))).toMatchObject({
      detected: 5,
      skipped: 0,
    });
  });

  it("--also: each further model detects the same images into detections-<model>/", () => {
    const summaryPath = join(dir, "summary-also.json");
    const result = runScript([
      "--run-dir",
      runDir,
      "--model",
      "full",
      "--also",
      "lite",
      "--also",
      "full",
      "--also",
      "lite",
      "--fake-landmarker",
      "--summary",
      summaryPath,
    ]);
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(readFileSync(summaryPath, "utf8"));
    // detect.model itself is not run twice, a repeated model once.
    expect(summary.others).toHaveLength(1);
    expect(summary.others[0]).toMatchObject({
      variant: "lite",
      detections: "detections-lite",
      images: 5,
      detected: 5,
    });
    expect(existsSync(join(runDir, "detections-full"))).toBe(false);
    for (const image of IMAGES) {
      const path = join(
        runDir,
        image.replace(/^renders\//, "detections-lite/").replace(/\.png$/, ".json"),
      );
      expect(detectionSchema.parse(JSON.parse(readFileSync(path, "utf8"))).image).toBe(image);
    }
    // Resumes per folder: nothing left to do in either.
    const again = runScript(["--run-dir", runDir, "--also", "lite", "--fake-landmarker"]);
    expect(again.code).toBe(0);
    expect(again.stderr.match(/already detected/g)).toHaveLength(2);
  });

  it("takes an explicit image list and reports a bad image without stopping the batch", () => {
    const list = join(dir, "images.txt");
    writeFileSync(join(runDir, "renders/walker/walk/az090_el10/f0021.png"), "not a png");
    writeFileSync(
      list,
      `# two good, one broken\n${IMAGES[0]}\nrenders/walker/walk/az090_el10/f0021.png\n${IMAGES[2]}\n`,
    );
    const summaryPath = join(dir, "summary-list.json");
    const result = runScript([
      "--run-dir",
      runDir,
      "--fake-landmarker",
      "--force",
      "--images",
      list,
      "--summary",
      summaryPath,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/f0021\.png: .*not a PNG/);
    const summary = JSON.parse(readFileSync(summaryPath, "utf8"));
    expect(summary).toMatchObject({ images: 3, detected: 2 });
    expect(summary.failed).toHaveLength(1);
  });
});

/**
 * The real thing: the `mediapipe` wheel from blender/requirements.txt (the pod's venv) on real
 * renders, with the .task built offline from @mediapipe/pose, against the web backend
 * (tasks-vision in Chromium) on the same images and model.
 */
describeWithPodPython("detect_pose.py with real MediaPipe (the pod's venv)", (python) => {
  let realDir: string;
  let realRun: string;
  let model: ResolvedModel;
  let images: string[];
  let python1: Map<string, Detection>;

  const runReal = (args: string[]) => {
    const result = spawnSync(python, [SCRIPT, "--run-dir", realRun, ...args], {
      encoding: "utf8",
      env: { ...process.env, POSEFACTORY_DETECT_WORKERS: "" },
    });
    return { code: result.status, stderr: result.stderr };
  };
  const readDetections = (folder: string): Map<string, Detection> =>
    new Map(
      images.map((image) => {
        const path = join(
          realRun,
          image.replace(/^renders\//, `${folder}/`).replace(/\.png$/, ".json"),
        );
        return [image, detectionSchema.parse(JSON.parse(readFileSync(path, "utf8")))];
      }),
    );

  beforeAll(async () => {
    realDir = mkdtempSync(join(tmpdir(), "pf-detect-real-"));
    realRun = join(realDir, "run");
    const sample = await getSampleCharacters();
    const base = makeJob({ characters: [], outDir: "" });
    const manifest = await renderJob(
      makeJob({
        outDir: realRun,
        characters: [
          { name: "walker", file: sample.fbx, sha256: "-" },
          { name: "two-clips", file: sample.glb, sha256: "-", clips: ["Wave"] },
        ],
        frames: { list: [0, 24] },
        cameras: { ...base.cameras, elevationsDeg: [10, -10] },
        render: { ...base.render, samples: 8, resolution: [256, 256] },
        outputs: { ...base.outputs, keypoints: false },
      }),
    );
    images = manifest.characters.flatMap((c) => c.images.map((i) => i.path));
    // Images without anybody: both backends must say "not found" for them too.
    for (let i = 1; i <= 4; i++) {
      const image = `renders/nobody/none/az000_el10/f000${i}.png`;
      mkdirSync(join(realRun, image, ".."), { recursive: true });
      const noise = Buffer.alloc(256 * 256 * 3);
      for (let j = 0; j < noise.length; j++) noise[j] = (j * 7919 * i) % 251;
      await (i % 2 === 0
        ? sharp({
            create: {
              width: 256,
              height: 256,
              channels: 3,
              background: { r: 40 * i, g: 90, b: 120 },
            },
          })
        : sharp(noise, { raw: { width: 256, height: 256, channels: 3 } })
      )
        .png()
        .toFile(join(realRun, image));
      images.push(image);
    }
    images.sort();
    model = await buildPoseModel("full", join(realDir, "cache"));
    const one = runReal([
      "--model-path",
      model.path,
      "--model-version",
      model.version,
      "--workers",
      "1",
    ]);
    expect(one.code, one.stderr).toBe(0);
    python1 = readDetections("detections");
  });
  afterAll(() => realDir && rmSync(realDir, { recursive: true, force: true }));

  it("detects every render with the real landmarker and writes schema-valid detections", () => {
    expect(images.length).toBeGreaterThanOrEqual(40);
    const found = [...python1.values()].filter((d) => d.found).length;
    expect(found / images.length).toBeGreaterThan(0.5);
    for (const [image, detection] of python1)
      if (image.startsWith("renders/nobody/")) expect(detection.found, image).toBe(false);
    const first = [...python1.values()].find((d) => d.found)!;
    expect(first.backend).toBe("python");
    expect(first.model).toMatchObject({ sha256: model.sha256, version: model.version });
    expect(first.poses[0]!.landmarks).toHaveLength(33);
  });

  it("gives the same results from a pool of landmarker processes as from one", () => {
    const summary = join(realDir, "pool-summary.json");
    const pool = runReal([
      "--model-path",
      model.path,
      "--model-version",
      model.version,
      "--workers",
      "3",
      "--force",
      "--summary",
      summary,
    ]);
    expect(pool.code, pool.stderr).toBe(0);
    expect(pool.stderr).toMatch(/3 worker\(s\)/);
    expect(JSON.parse(readFileSync(summary, "utf8"))).toMatchObject({ workers: 3, failed: [] });
    const pooled = readDetections("detections");
    for (const image of images) {
      const { seconds: _a, ...a } = python1.get(image)!;
      const { seconds: _b, ...b } = pooled.get(image)!;
      expect(b, image).toEqual(a);
    }
  });

  it("agrees with the web backend: same found/not-found on >= 95% of images, median landmark distance <= 2 px", async () => {
    const web = await openWebDetector({ model, root: realRun, logger: createSilentLogger() });
    let sameDecision = 0;
    const distances: number[] = [];
    try {
      for (const image of images) {
        const w = await web.detect(image);
        const p = python1.get(image)!;
        if (w.found === p.found) sameDecision++;
        if (!w.found || !p.found) continue;
        const wl = w.poses[0]!.landmarks;
        const pl = p.poses[0]!.landmarks;
        for (let k = 0; k < 33; k++)
          distances.push(Math.hypot(wl[k]!.px - pl[k]!.px, wl[k]!.py - pl[k]!.py));
      }
    } finally {
      await web.close();
    }
    distances.sort((a, b) => a - b);
    const median = distances[Math.floor(distances.length / 2)] ?? Number.NaN;
    const agreement = sameDecision / images.length;
    console.log(
      `python vs web: ${images.length} images, same found/not-found ${(agreement * 100).toFixed(1)}%, ` +
        `${distances.length / 33} images with both found, median landmark distance ${median.toFixed(3)} px, ` +
        `90th percentile ${distances[Math.floor(distances.length * 0.9)]?.toFixed(3)} px`,
    );
    expect(agreement).toBeGreaterThanOrEqual(0.95);
    expect(distances.length).toBeGreaterThan(20 * 33);
    expect(median).toBeLessThanOrEqual(2);
  });
});
