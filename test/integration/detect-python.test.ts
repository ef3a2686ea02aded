/**
 * blender/detect_pose.py with plain python3 (no mediapipe here): argument parsing, batching,
 * resuming, the JSON it writes (checked against the TypeScript detectionSchema), and the
 * message when mediapipe is missing. MediaPipe itself is swapped for the script's fake.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { detectionSchema } from "../../src/detect/schema.js";

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
