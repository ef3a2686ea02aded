/** Config `scene` and `cameras.jitter` -> job.json; defaults leave the job as it was. */
import { describe, expect, it } from "vitest";
import { configSchema } from "../../src/config/schema.js";
import { renderKey } from "../../src/pipeline/cache-key.js";
import { buildRenderJob } from "../../src/pipeline/render-step.js";
import type { State } from "../../src/pipeline/state.js";
import { buildJob } from "../../src/render/job.js";

const characters = [{ name: "walker", file: "/x/walker.fbx", sha256: "-" }];

describe("scene and camera jitter in the job", () => {
  it("adds nothing by default: today's job", () => {
    const job = buildJob(configSchema.parse({}), { runId: "r", characters, outDir: "/out" });
    expect(job.scene).toBeUndefined();
    expect(job.cameras.jitter).toBeUndefined();
    expect(job.cameras.truncation).toBeUndefined();
  });

  it("passes the seed, the light ranges (defaults filled in), backgrounds and the jitter", () => {
    const config = configSchema.parse({
      scene: { seed: 4 },
      cameras: { jitter: { lensMm: [-10, 20], rollDeg: [-5, 5] }, truncation: 0.25 },
    });
    const job = buildJob(config, {
      runId: "r",
      characters,
      outDir: "/out",
      backgroundsDir: "/data/backgrounds",
    });
    expect(job.scene!.seed).toBe(4);
    expect(job.scene!.backgrounds).toBe("/data/backgrounds");
    expect(job.scene!.lights.count).toEqual([1, 2]);
    expect(job.cameras.jitter).toEqual({ lensMm: [-10, 20], rollDeg: [-5, 5] });
    expect(job.cameras.truncation).toBe(0.25);
  });

  it("refuses a range whose min exceeds its max, and distance multipliers <= 0", () => {
    const bad = configSchema.safeParse({ cameras: { jitter: { rollDeg: [5, -5] } } });
    expect(bad.success).toBe(false);
    expect(JSON.stringify(bad.error?.issues)).toContain("must not exceed");
    expect(configSchema.safeParse({ cameras: { jitter: { distance: [0, 1] } } }).success).toBe(
      false,
    );
    expect(configSchema.safeParse({ cameras: { truncation: 1.5 } }).success).toBe(false);
  });
});

describe("the pipeline's render job carries the local folders", () => {
  const state = (executor: "local" | "ssh", config: object) =>
    ({
      ctx: {
        resolved: { baseDir: "/project" },
        env: { POSEFACTORY_S3_ACCESS_KEY_ID: "id", POSEFACTORY_S3_SECRET_ACCESS_KEY: "secret" },
      },
      config: configSchema.parse(config),
      target: {
        executor,
        workdir: "/w",
        blender: "blender",
        storage: { type: "s3", bucket: "b", region: "auto", prefix: "p/", forcePathStyle: true },
      },
      runId: "20261201-000000-abcdef",
      localRunDir: "/project/data/runs/r",
      hostRunDir: "/w/runs/r",
      characters: [],
      inputFiles: ["blender/render.py", "backgrounds/sky.hdr", "animations/wave.fbx"],
      detect: "local",
    }) as unknown as State;

  it("resolves animations and scene.backgrounds against the project folder (local target)", () => {
    const { job } = buildRenderJob(
      state("local", { animations: "animations", scene: { backgrounds: "bg" } }),
    );
    expect(job.animations).toBe("/project/animations");
    expect(job.scene!.backgrounds).toBe("/project/bg");
  });

  it("points a host's job at the run's assets/ folder and pulls every input in one list", () => {
    const { job, hostJob } = buildRenderJob(
      state("ssh", { animations: "animations", scene: { backgrounds: "bg" } }),
    );
    expect(job.animations).toBe("/w/runs/r/assets/animations");
    expect(job.scene!.backgrounds).toBe("/w/runs/r/assets/backgrounds");
    expect(hostJob.files?.["inputs.txt"]).toBe(
      "blender/render.py\nbackgrounds/sky.hdr\nanimations/wave.fbx\n",
    );
  });
});

describe("render cache key", () => {
  it("changes with the scene, its seed and the animations folder; unchanged without them", () => {
    const key = (config: object) => renderKey("sha", configSchema.parse(config), "blender");
    expect(key({})).toBe(key({ detect: { model: "lite" } }));
    expect(key({ scene: { seed: 1 } })).not.toBe(key({}));
    expect(key({ scene: { seed: 1 } })).not.toBe(key({ scene: { seed: 2 } }));
    expect(key({ animations: "anims" })).not.toBe(key({}));
    expect(key({ cameras: { jitter: { rollDeg: [-5, 5] } } })).not.toBe(key({}));
  });
});
