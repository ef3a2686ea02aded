/**
 * detect.models: several MediaPipe models (real, web backend) on the same renders, each into
 * its own folder, compared side by side in evaluation.json and report.html.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configSchema, DEFAULT_LOCAL_TARGET } from "../../src/config/schema.js";
import type { Context } from "../../src/context.js";
import type { Evaluation } from "../../src/detect/evaluate.js";
import { type DetectResult, runDetect, runReport } from "../../src/detect/run.js";
import { detectionSchema } from "../../src/detect/schema.js";
import { createSilentLogger } from "../../src/log.js";
import { getSampleCharacters, makeJob, renderJob } from "../helpers/blender.js";

function makeContext(base: string): Context {
  return {
    resolved: {
      config: configSchema.parse({ detect: { model: "full", models: ["lite", "full"] } }),
      path: undefined,
      baseDir: base,
      targetName: "local",
      target: DEFAULT_LOCAL_TARGET,
    },
    logger: createSilentLogger(),
    global: {},
    cwd: base,
    env: { POSEFACTORY_CACHE_DIR: join(base, "cache") },
    signal: new AbortController().signal,
    storage: () => Promise.reject(new Error("no storage in this test")),
    executor: () => Promise.reject(new Error("no executor in this test")),
    output: { text: () => undefined, result: () => undefined },
  };
}

describe("detect.models: lite next to full on the same images", () => {
  const dir = mkdtempSync(join(tmpdir(), "pf-detect-models-"));
  const runDir = join(dir, "data", "runs", "20261201-000000-models");
  let detect: DetectResult;
  let evaluation: Evaluation;

  beforeAll(async () => {
    const sample = await getSampleCharacters();
    const base = makeJob({ characters: [], outDir: "" });
    await renderJob(
      makeJob({
        outDir: runDir,
        characters: [{ name: "walker", file: sample.fbx, sha256: "-" }],
        cameras: { ...base.cameras, azimuthsDeg: [0, 45, 315] },
        render: { ...base.render, resolution: [192, 192], samples: 4 },
      }),
    );
    const ctx = makeContext(dir);
    detect = await runDetect(runDir, {}, ctx);
    evaluation = (await runReport(runDir, {}, ctx)).evaluation;
  }, 600_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("writes detect.model into detections/ and each further model into detections-<model>/", () => {
    expect(detect.images).toBe(3);
    expect(detect.model.name).toContain("full");
    expect(detect.others).toHaveLength(1); // "full" is detect.model already
    expect(detect.others![0]!.detections).toBe("detections-lite");
    expect(detect.others![0]!.model.sha256).not.toBe(detect.model.sha256);
    const path = "walker/mixamo.com/az000_el10/f0002.json";
    const main = detectionSchema.parse(
      JSON.parse(readFileSync(join(runDir, "detections", path), "utf8")),
    );
    const lite = detectionSchema.parse(
      JSON.parse(readFileSync(join(runDir, "detections-lite", path), "utf8")),
    );
    expect(main.model.name).toContain("full");
    expect(lite.model.name).toContain("lite");
  });

  it("scores every model on the same images in evaluation.json and the report", () => {
    const names = Object.keys(evaluation.models).sort();
    expect(names).toHaveLength(2);
    expect(names.some((n) => n.includes("lite"))).toBe(true);
    expect(names.some((n) => n.includes("full"))).toBe(true);
    for (const name of names) {
      const model = evaluation.models[name]!;
      expect(model.overall.images).toBe(3);
      expect(Object.keys(model.perView).sort()).toEqual(["az000_el10", "az045_el10", "az315_el10"]);
    }
    const full = names.find((n) => n.includes("full"))!;
    expect(evaluation.models[full]!.overall).toEqual(evaluation.overall);
    const html = readFileSync(join(runDir, "report.html"), "utf8");
    expect(html).toContain('id="models"');
    expect(existsSync(join(runDir, "detections-lite"))).toBe(true);
  });
});
