/**
 * Web detector throughput on the sample renders (Blender, 256x256, 8 views x 2 frames):
 * Chromium start and model load are reported apart from the per-image time, the first image
 * (wasm warm-up) apart from the steady state. Anchor: hashing 64 MB with sha256 in this process,
 * measured in the same run; the ratio is steady per-image time / anchor time.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolvePoseModel } from "../../src/detect/model.js";
import { listRenderImages } from "../../src/detect/run.js";
import { openWebDetector } from "../../src/detect/web.js";
import { createSilentLogger } from "../../src/log.js";
import { getSampleCharacters, makeJob, renderJob } from "../helpers/blender.js";

const seconds = (since: number) => (performance.now() - since) / 1000;

function measureAnchor(): number {
  const block = Buffer.alloc(1 << 20, 7);
  const started = performance.now();
  const hash = createHash("sha256");
  for (let i = 0; i < 64; i++) hash.update(block);
  hash.digest();
  return seconds(started);
}

const dir = mkdtempSync(join(tmpdir(), "pf-bench-detect-"));
try {
  const sample = await getSampleCharacters();
  const runDir = join(dir, "run");
  await renderJob(
    makeJob({
      characters: [{ name: "walker", file: sample.fbx, sha256: "bench" }],
      outDir: runDir,
      frames: { list: [0, 10] },
      render: {
        engine: "CYCLES",
        device: "cpu",
        samples: 8,
        resolution: [256, 256],
        transparent: true,
      },
    }),
  );
  const images = await listRenderImages(runDir);
  const logger = createSilentLogger();
  const model = await resolvePoseModel({
    variant: "full",
    logger,
    cacheDir: join(dir, "cache"),
    download: false,
  });
  const anchorBefore = measureAnchor();
  const opened = performance.now();
  const detector = await openWebDetector({ model, root: runDir, logger });
  const openSeconds = seconds(opened);
  let found = 0;
  let first = 0;
  let inPage = 0;
  let steady = 0;
  try {
    for (const [i, image] of images.entries()) {
      const t = performance.now();
      const detection = await detector.detect(image);
      if (detection.found) found++;
      if (i === 0) {
        first = seconds(t);
        steady = performance.now();
      } else {
        inPage += detection.seconds;
      }
    }
  } finally {
    await detector.close();
  }
  const steadyCount = images.length - 1;
  const steadySeconds = seconds(steady);
  const anchor = (anchorBefore + measureAnchor()) / 2;
  const perImage = steadySeconds / steadyCount;
  console.log(
    `images: ${images.length} (256x256, pose found in ${found}), model ${model.name} (${model.source})`,
  );
  console.log(
    `browser start: ${detector.startup.browserSeconds.toFixed(2)} s, model load: ${detector.startup.modelSeconds.toFixed(2)} s (open total ${openSeconds.toFixed(2)} s)`,
  );
  console.log(`first image: ${(first * 1000).toFixed(0)} ms (wasm warm-up)`);
  console.log(
    `steady: ${(perImage * 1000).toFixed(1)} ms an image (${(1 / perImage).toFixed(1)} images/s), of which landmarker.detect ${((inPage / steadyCount) * 1000).toFixed(1)} ms`,
  );
  console.log(`anchor (sha256 of 64 MB): ${(anchor * 1000).toFixed(1)} ms`);
  console.log(`ratio steady per-image / anchor: ${(perImage / anchor).toFixed(2)}`);
  console.log(
    `ratio startup (browser + model) / anchor: ${((detector.startup.browserSeconds + detector.startup.modelSeconds) / anchor).toFixed(1)}`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
