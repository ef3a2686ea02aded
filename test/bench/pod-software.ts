/**
 * The pod's software: (1) render seconds per image of the same job on Debian's Blender 3.4.1
 * (the anchor) and on the bpy wheels of the test matrix (4.5 LTS, 5.0); (2) the Python
 * detector (detect_pose.py with the real mediapipe of the pod's venv, a pool of landmarkers
 * sized to the cores) against the web backend (the anchor) in images per second on the same
 * images and model. Start-up (Chromium, model load) is reported apart from the steady rate.
 * BENCH_ROUNDS (default 3) runs of each; prints every run, the median and the ratio.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openWebDetector } from "../../src/detect/web.js";
import { createSilentLogger } from "../../src/log.js";
import {
  BLENDERS,
  getSampleCharacters,
  makeJob,
  POD_PYTHON,
  renderJob,
} from "../helpers/blender.js";
import { buildPoseModel } from "../helpers/pose-models.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SCRIPT = fileURLToPath(new URL("../../blender/detect_pose.py", import.meta.url));
const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;
const fmt = (values: number[], digits = 3) =>
  `${values.map((v) => v.toFixed(digits)).join(", ")} (median ${median(values).toFixed(digits)})`;

const dir = mkdtempSync(join(tmpdir(), "pf-bench-pod-"));
try {
  const sample = await getSampleCharacters();
  const job = (outDir: string) =>
    makeJob({
      characters: [{ name: "walker", file: sample.fbx, sha256: "bench" }],
      outDir,
      frames: { list: [0, 12, 24, 36] },
      render: {
        engine: "CYCLES",
        device: "cpu",
        samples: 8,
        resolution: [256, 256],
        transparent: true,
      },
    });

  console.log("render: walker FBX, 8 views x 4 frames, 256x256, Cycles CPU, 8 samples");
  const perImage = new Map<string, number[]>();
  for (const blender of BLENDERS.filter((b) => b.missing === undefined)) {
    const runs: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const manifest = await renderJob(job(join(dir, `render-${blender.id}-${round}`)), {
        blender,
      });
      const c = manifest.characters[0]!;
      runs.push(c.seconds.render / c.images.length);
    }
    perImage.set(blender.label, runs);
    console.log(`  ${blender.label.padEnd(16)} s/image: ${fmt(runs)}`);
  }
  const anchor = perImage.get("blender binary");
  if (anchor)
    for (const [label, runs] of perImage)
      if (label !== "blender binary")
        console.log(
          `  ${label} / blender binary: ${(median(runs) / median(anchor)).toFixed(2)}x the time per image`,
        );

  // Detection on the same 32 renders (made by the binary), same offline-built model.
  const runDir = join(dir, "render-binary-0");
  const model = await buildPoseModel("full", join(dir, "cache"));
  const images = JSON.parse(
    readFileSync(join(runDir, "manifest.json"), "utf8"),
  ).characters[0].images.map((i: { path: string }) => i.path) as string[];
  console.log(`detect: ${images.length} images, ${model.name} (${model.version})`);

  const web: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const started = performance.now();
    const detector = await openWebDetector({ model, root: runDir, logger: createSilentLogger() });
    const startup = (performance.now() - started) / 1000;
    const t0 = performance.now();
    await Promise.all(images.map((image) => detector.detect(image)));
    const rate = images.length / ((performance.now() - t0) / 1000);
    await detector.close();
    web.push(rate);
    console.log(
      `  web    run ${round + 1}: ${rate.toFixed(2)} images/s (start-up ${startup.toFixed(1)} s)`,
    );
  }
  if (POD_PYTHON.missing !== undefined) {
    console.log(`  python: skipped, ${POD_PYTHON.missing}`);
  } else {
    const python: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const summaryPath = join(dir, `summary-${round}.json`);
      const result = spawnSync(
        POD_PYTHON.path,
        [
          SCRIPT,
          "--run-dir",
          runDir,
          "--model-path",
          model.path,
          "--force",
          "--summary",
          summaryPath,
        ],
        { encoding: "utf8" },
      );
      if (result.status !== 0) throw new Error(`detect_pose.py failed: ${result.stderr}`);
      const summary = JSON.parse(readFileSync(summaryPath, "utf8"));
      const rate = summary.detected / summary.seconds.detect;
      python.push(rate);
      console.log(
        `  python run ${round + 1}: ${rate.toFixed(2)} images/s (${summary.workers} workers, start-up ${summary.seconds.load.toFixed(1)} s)`,
      );
    }
    console.log(`  web    images/s: ${fmt(web, 2)}`);
    console.log(`  python images/s: ${fmt(python, 2)}`);
    console.log(
      `  python / web: ${(median(python) / median(web)).toFixed(2)}x the images per second`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
