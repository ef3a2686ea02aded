/**
 * The render-time cost of each randomization (config `scene`, `cameras.jitter`, the mask
 * output), one at a time against the plain job (today's rig: grey world, no draws) in the
 * same run: the sample walker, 8 views x 2 frames at 128x128, Cycles on the CPU, 8 samples.
 * Rounds alternate the order of the settings. Figures are the manifest's `seconds.render`
 * (Blender's render loop, import and bounding box excluded) per image: median, range, and the
 * ratio to the plain job. Backgrounds are generated (test/helpers/backgrounds.ts).
 * BENCH_CHARACTER=<file> measures that character file instead of the walker (its first clip's
 * frames 0 and 24 are rendered).
 *
 *   npx tsx test/bench/scene.ts          (BENCH_ROUNDS=3 by default)
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { Job } from "../../src/render/job.schema.js";
import { writeBackgrounds } from "../helpers/backgrounds.js";
import { getSampleCharacters, makeJob, renderJob } from "../helpers/blender.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const LIGHTS = {
  count: [1, 3] as [number, number],
  energy: [1, 5] as [number, number],
  temperatureK: [3500, 7500] as [number, number],
  elevationDeg: [15, 75] as [number, number],
  azimuthDeg: [-180, 180] as [number, number],
};

const dir = mkdtempSync(join(tmpdir(), "pf-bench-scene-"));
try {
  const hdri = join(dir, "hdri");
  const plates = join(dir, "plates");
  mkdirSync(hdri);
  mkdirSync(plates);
  await writeBackgrounds(hdri);
  await writeBackgrounds(plates);
  // One kind per folder, so each setting measures one kind of background.
  rmSync(join(hdri, "blue.jpg"));
  rmSync(join(plates, "green.hdr"));
  const walker = process.env.BENCH_CHARACTER ?? (await getSampleCharacters()).fbx;
  const base = makeJob({ characters: [], outDir: "" });
  const settings: [string, Partial<Job>][] = [
    ["plain (today)", {}],
    ["+ mask output", { outputs: { ...base.outputs, mask: true } }],
    [
      "cameras.jitter + truncation",
      {
        cameras: {
          ...base.cameras,
          jitter: {
            distance: [0.9, 1.5],
            lensMm: [-15, 30],
            heightM: [-0.3, 0.3],
            rollDeg: [-10, 10],
            azimuthDeg: [-20, 20],
            elevationDeg: [-5, 15],
          },
          truncation: 0.2,
        },
      },
    ],
    ["scene: sky + lamps", { scene: { seed: 1, lights: LIGHTS } }],
    ["scene: HDRI + lamps", { scene: { seed: 1, backgrounds: hdri, lights: LIGHTS } }],
    ["scene: image plate + lamps", { scene: { seed: 1, backgrounds: plates, lights: LIGHTS } }],
    [
      "scene: appearance only",
      { scene: { seed: 1, lights: {}, appearance: { hue: [-0.1, 0.1], value: [0.7, 1.2] } } },
    ],
    [
      "scene: occluders only (p 0.5)",
      { scene: { seed: 1, lights: {}, occluders: { probability: 0.5, sizeM: [0.2, 0.5] } } },
    ],
  ];
  const perImage = new Map<string, number[]>(settings.map(([name]) => [name, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 === 1 ? settings : [...settings].reverse();
    for (const [name, overrides] of order) {
      const job = makeJob({
        characters: [{ name: "walker", file: walker, sha256: "-" }],
        outDir: join(dir, `r${round}`, name.replace(/[^a-z0-9]+/gi, "-")),
        frames: { list: [0, 24] },
        render: { ...base.render, samples: 8 },
        ...overrides,
      });
      const manifest = await renderJob(job);
      const c = manifest.characters[0]!;
      if (c.status !== "ok") throw new Error(`${name}: ${c.error ?? c.status}`);
      perImage.get(name)!.push(c.seconds.render / c.images.length);
    }
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
  const plain = median(perImage.get("plain (today)")!);
  console.log(
    `${basename(walker)}, 8 views x 2 frames at 128x128, Cycles CPU, 8 samples; ${ROUNDS} rounds; seconds of render per image`,
  );
  for (const [name] of settings) {
    const v = perImage.get(name)!;
    console.log(
      `${name.padEnd(30)} median ${median(v).toFixed(3)} s  [${v.map((x) => x.toFixed(3)).join(", ")}]  ratio ${(median(v) / plain).toFixed(2)}x of plain`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
