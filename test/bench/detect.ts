/**
 * Web detector throughput on the sample renders (Blender, 256x256, 8 views x 4 frames, full
 * model): the parallel detector (one landmarker per core, two images in flight per page)
 * against the anchor, one landmarker detecting one image at a time (the detector as it was),
 * in the same run on the same images. Chromium start and model load are reported apart, the
 * first image of each page (wasm warm-up) is left out of the steady state, and the two
 * detectors' landmarks are compared (they must agree within float noise).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolvePoseModel } from "../../src/detect/model.js";
import { listRenderImages } from "../../src/detect/run.js";
import type { Detection } from "../../src/detect/schema.js";
import { openWebDetector } from "../../src/detect/web.js";
import { createSilentLogger } from "../../src/log.js";
import { getSampleCharacters, makeJob, renderJob } from "../helpers/blender.js";

const seconds = (since: number) => (performance.now() - since) / 1000;

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

type Detector = Awaited<ReturnType<typeof openWebDetector>>;

/** Images per second over every image, keeping `inFlight` detections going at once. */
async function measure(
  detector: Detector,
  images: string[],
  inFlight: number,
  into: Map<string, Detection>,
): Promise<number> {
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < images.length) {
      const image = images[next++]!;
      into.set(image, await detector.detect(image));
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return images.length / seconds(started);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;

function largestDifference(a: Map<string, Detection>, b: Map<string, Detection>): number {
  let worst = 0;
  for (const [image, x] of a) {
    const y = b.get(image);
    if (!y || x.poses.length !== y.poses.length) return Number.POSITIVE_INFINITY;
    x.poses.forEach((pose, p) => {
      for (const kind of ["landmarks", "worldLandmarks"] as const)
        pose[kind].forEach((point, i) => {
          const other = y.poses[p]![kind][i]!;
          for (const key of ["x", "y", "z", "visibility", "presence"] as const)
            worst = Math.max(worst, Math.abs(point[key] - other[key]));
        });
    });
  }
  return worst;
}

const dir = mkdtempSync(join(tmpdir(), "pf-bench-detect-"));
try {
  const sample = await getSampleCharacters();
  const runDir = join(dir, "run");
  await renderJob(
    makeJob({
      characters: [{ name: "walker", file: sample.fbx, sha256: "bench" }],
      outDir: runDir,
      frames: { list: [0, 10, 20, 30] },
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
  const single = await openWebDetector({ model, root: runDir, logger, landmarkers: 1 });
  const parallel = await openWebDetector({ model, root: runDir, logger });
  const rates = { single: [] as number[], parallel: [] as number[] };
  const found = { single: new Map<string, Detection>(), parallel: new Map<string, Detection>() };
  try {
    // warm-up: one image per landmarker, at once (the first detection of a page is slow)
    for (const d of [single, parallel])
      await Promise.all(images.slice(0, d.landmarkers).map((i) => d.detect(i)));
    // rounds alternate, so both see the same machine (it is shared: load comes and goes)
    for (let round = 0; round < ROUNDS; round++) {
      rates.single.push(await measure(single, images, 1, found.single));
      rates.parallel.push(await measure(parallel, images, parallel.parallelism, found.parallel));
    }
  } finally {
    await single.close();
    await parallel.close();
  }
  const poses = [...found.parallel.values()].filter((d) => d.found).length;
  console.log(
    `detect bench: ${images.length} images (256x256, pose found in ${poses}), model ${model.name} (${model.source}), web backend, ${ROUNDS} alternating rounds`,
  );
  const line = (label: string, d: Detector, r: number[]) =>
    console.log(
      `  ${label}: ${d.landmarkers} landmarker(s), ${median(r).toFixed(1)} images/s steady (rounds ${r.map((x) => x.toFixed(1)).join(", ")}; start-up ${(d.startup.browserSeconds + d.startup.modelSeconds).toFixed(2)} s)`,
    );
  line("anchor: one landmarker, one image at a time", single, rates.single);
  line("parallel landmarkers, 2 images in flight each", parallel, rates.parallel);
  const ratio = median(rates.parallel) / median(rates.single);
  console.log(
    `  ratio parallel / anchor: ${ratio.toFixed(2)}x; parallel ${median(rates.parallel).toFixed(1)} images/s (goal >= 10 on 2 cores: ${median(rates.parallel) >= 10 ? "met" : "MISSED"})`,
  );
  const difference = largestDifference(found.single, found.parallel);
  console.log(`  largest landmark difference, parallel vs single: ${difference.toExponential(1)}`);
  if (!(difference < 1e-6)) process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
