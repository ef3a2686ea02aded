/**
 * Real MediaPipe (tasks-vision in headless Chromium, model built offline from @mediapipe/pose)
 * on the sample character rendered by Blender at 256x256 from 8 views, then the evaluation
 * checked against an independent computation, then report.html opened in Chromium.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configSchema, DEFAULT_LOCAL_TARGET } from "../../src/config/schema.js";
import type { Context } from "../../src/context.js";
import { launchBrowser, startLocalServer } from "../../src/detect/browser.js";
import type { Evaluation } from "../../src/detect/evaluate.js";
import { COCO_TO_MEDIAPIPE } from "../../src/detect/landmarks.js";
import { resolvePoseModel } from "../../src/detect/model.js";
import { type DetectResult, listRenderImages, runDetect, runReport } from "../../src/detect/run.js";
import { annotationsSchema, type Detection, detectionSchema } from "../../src/detect/schema.js";
import { openWebDetector } from "../../src/detect/web.js";
import { createSilentLogger } from "../../src/log.js";
import { getSampleCharacters, makeJob, renderJob } from "../helpers/blender.js";
import { cleanEnv, runCli } from "../helpers/cli.js";

const VIEWS = [
  "az000_el10",
  "az045_el10",
  "az090_el10",
  "az135_el10",
  "az180_el10",
  "az225_el10",
  "az270_el10",
  "az315_el10",
];
/** The sample character faces -Y, the azimuth-0 camera: these views see its front. */
const FRONTISH = ["az315_el10", "az000_el10", "az045_el10"];

let dir: string;
let runDir: string;
let detect: DetectResult;
let evaluation: Evaluation;

function makeContext(base: string): Context {
  return {
    resolved: {
      config: configSchema.parse({}),
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

const readJson = (path: string): unknown => JSON.parse(readFileSync(path, "utf8"));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "pf-detect-web-"));
  runDir = join(dir, "data", "runs", "20261125-000000-test01");
  const sample = await getSampleCharacters();
  await renderJob(
    makeJob({
      characters: [{ name: "walker", file: sample.fbx, sha256: "test" }],
      outDir: runDir,
      render: {
        engine: "CYCLES",
        device: "cpu",
        samples: 8,
        resolution: [256, 256],
        transparent: true,
      },
    }),
  );
  const ctx = makeContext(dir);
  detect = await runDetect(runDir, {}, ctx);
  evaluation = (await runReport(runDir, {}, ctx)).evaluation;
}, 300_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("web detector on the rendered sample character", () => {
  it("writes a schema-valid detection for every render", () => {
    expect(detect.images).toBe(8);
    expect(detect.detected).toBe(8);
    expect(["built", "official"]).toContain(detect.model.source);
    for (const view of VIEWS) {
      const renders = join(runDir, "renders/walker");
      const clip = readJson(join(renders, "annotations.json")) as {
        images: { view: string; file_name: string }[];
      };
      const image = clip.images.find((i) => i.view === view)!;
      const path = join(runDir, "detections/walker", image.file_name.replace(/\.png$/, ".json"));
      const detection = detectionSchema.parse(readJson(path));
      expect(detection.image).toBe(`renders/walker/${image.file_name}`);
      expect([detection.width, detection.height]).toEqual([256, 256]);
      expect(detection.backend).toBe("web");
      expect(detection.model.sha256).toBe(detect.model.sha256);
      if (detection.found) {
        expect(detection.poses[0]!.landmarks).toHaveLength(33);
        const nose = detection.poses[0]!.landmarks[0]!;
        expect(nose.px).toBeCloseTo(nose.x * 256, 6);
      }
    }
  });

  it("one landmarker finds what the parallel ones found (runDetect uses one per core)", async () => {
    const images = await listRenderImages(runDir);
    const model = await resolvePoseModel({
      variant: "full",
      logger: createSilentLogger(),
      cacheDir: join(dir, "cache"),
      download: false,
    });
    const single = await openWebDetector({
      model,
      root: runDir,
      landmarkers: 1,
      logger: createSilentLogger(),
    });
    let compared = 0;
    try {
      expect(single.landmarkers).toBe(1);
      for (const image of images) {
        const alone = await single.detect(image);
        const parallel = detectionSchema.parse(
          readJson(
            join(runDir, image.replace(/^renders\//, "detections/").replace(/\.png$/, ".json")),
          ),
        );
        expect(parallel.model.sha256).toBe(alone.model.sha256);
        expect(alone.found, image).toBe(parallel.found);
        expect(alone.poses.length, image).toBe(parallel.poses.length);
        alone.poses.forEach((pose, p) => {
          for (const kind of ["landmarks", "worldLandmarks"] as const) {
            pose[kind].forEach((point, i) => {
              const other = parallel.poses[p]![kind][i]!;
              for (const key of ["x", "y", "z", "visibility", "presence"] as const)
                expect(
                  Math.abs(point[key] - other[key]),
                  `${image} ${kind}[${i}].${key}`,
                ).toBeLessThan(1e-6);
            });
          }
        });
        compared++;
      }
    } finally {
      await single.close();
    }
    expect(compared).toBe(images.length);
  });

  it("finds the pose in most front-ish views", () => {
    const found = evaluation.images.filter((i) => FRONTISH.includes(i.view) && i.found);
    expect(found.length).toBeGreaterThanOrEqual(2);
    expect(evaluation.overall.detectionRate).toBeGreaterThanOrEqual(0.5);
  });

  it("a second run skips what is done", async () => {
    const again = await runDetect(runDir, {}, makeContext(dir));
    expect(again).toMatchObject({ images: 8, detected: 0, skipped: 8, found: detect.found });
  });

  it("evaluation.json matches a hand computation on two images", () => {
    const written = readJson(join(runDir, "evaluation.json")) as Evaluation;
    expect(written.overall).toEqual(evaluation.overall);
    const annotations = annotationsSchema.parse(
      readJson(join(runDir, "renders/walker/annotations.json")),
    );
    const checked = written.images.filter((i) => i.found).slice(0, 2);
    expect(checked).toHaveLength(2);
    for (const record of checked) {
      const image = annotations.images.find(
        (i) => `renders/walker/${i.file_name}` === record.image,
      )!;
      const gt = annotations.annotations.find((a) => a.image_id === image.id)!.keypoints_mediapipe;
      const detection = detectionSchema.parse(
        readJson(join(runDir, record.detection)),
      ) as Detection;
      const points = detection.poses[0]!.landmarks;
      // Box size: max side of the box around the labelled (v > 0) ground-truth landmarks.
      const xs: number[] = [];
      const ys: number[] = [];
      for (let i = 0; i < 33; i++) {
        if (gt[i * 3 + 2]! > 0) {
          xs.push(gt[i * 3]!);
          ys.push(gt[i * 3 + 1]!);
        }
      }
      const box = Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys));
      for (const [key, alpha] of [
        ["0.05", 0.05],
        ["0.1", 0.1],
        ["0.2", 0.2],
      ] as const) {
        let n = 0;
        let hits = 0;
        for (const mp of COCO_TO_MEDIAPIPE) {
          if (gt[mp * 3 + 2] !== 2) continue;
          n++;
          const dx = points[mp]!.px - gt[mp * 3]!;
          const dy = points[mp]!.py - gt[mp * 3 + 1]!;
          if (Math.sqrt(dx * dx + dy * dy) <= alpha * box) hits++;
        }
        expect(record.visible.joints).toBe(n);
        expect(record.visible.pck[key]).toBeCloseTo(hits / n, 12);
      }
      expect(record.boxSize).toBeCloseTo(box, 9);
    }
    // The per-view rows add up to the overall count.
    const perViewImages = Object.values(written.perView).reduce((s, v) => s + v.images, 0);
    expect(perViewImages).toBe(written.overall.images);
    expect(Object.keys(written.perView).sort()).toEqual(VIEWS);
  });

  it("report.html renders in Chromium: tables, loaded images, no console errors", async () => {
    expect(existsSync(join(runDir, "report.html"))).toBe(true);
    expect(statSync(join(runDir, "report/sheets/walker.jpg")).size).toBeGreaterThan(1000);
    const server = await startLocalServer({ folders: { "/": runDir } });
    const session = await launchBrowser({
      logger: createSilentLogger(),
      allowOrigin: server.origin,
      viewport: { width: 1300, height: 900 },
    });
    try {
      const failed: string[] = [];
      session.page.on("requestfailed", (r) => failed.push(r.url()));
      session.page.on("response", (r) => {
        if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
      });
      await session.page.goto(`${server.origin}/report.html`, { waitUntil: "load" });
      const summaryRows = await session.page.locator("#summary tr").count();
      expect(summaryRows).toBeGreaterThanOrEqual(3); // header, overall, walker
      expect(await session.page.locator("#views tr").count()).toBe(1 + VIEWS.length);
      expect(
        await session.page.locator("svg[aria-label='PCK per view'] rect").count(),
      ).toBeGreaterThanOrEqual(VIEWS.length);
      await session.page.locator("table.grid").scrollIntoViewIfNeeded();
      await session.page.waitForFunction(() =>
        [...document.images].some((i) => i.complete && i.naturalWidth > 0),
      );
      const loaded = await session.page.evaluate(
        () => [...document.images].filter((i) => i.complete && i.naturalWidth > 0).length,
      );
      expect(loaded).toBeGreaterThanOrEqual(1);
      // Every link of the report points at a file that exists (relative links).
      const hrefs = await session.page.evaluate(() =>
        [...document.querySelectorAll("a")].map((a) => a.getAttribute("href")!),
      );
      expect(hrefs.length).toBeGreaterThan(VIEWS.length);
      for (const href of hrefs)
        expect(existsSync(join(runDir, decodeURIComponent(href)))).toBe(true);
      const shot = await session.page.screenshot({ fullPage: true });
      expect(shot.subarray(1, 4).toString()).toBe("PNG");
      expect(session.errors).toEqual([]);
      expect(failed).toEqual([]);
    } finally {
      await session.close();
      await server.close();
    }
  });

  it("`posefactory detect` and `report` work on the latest local run", async () => {
    writeFileSync(join(dir, "posefactory.yaml"), "version: 1\n");
    const env = cleanEnv({ POSEFACTORY_CACHE_DIR: join(dir, "cache") }, join(dir, "home"));
    const detected = await runCli(["detect", "--json"], { cwd: dir, env });
    expect(detected.code).toBe(0);
    expect(JSON.parse(detected.stdout)).toMatchObject({
      runId: "20261125-000000-test01",
      images: 8,
      skipped: 8,
      detected: 0,
    });
    const report = await runCli(["report", "20261125-000000-test01"], { cwd: dir, env });
    expect(report.code).toBe(0);
    const lines = report.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^view\s+images\s+found/);
    expect(lines.at(-1)).toBe(join(runDir, "report.html"));
    const missing = await runCli(["report", "20990101-000000-nope00"], { cwd: dir, env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/posefactory download/);
  });
});
