import { describe, expect, it } from "vitest";
import {
  computeBoxSize,
  computeOks,
  formatEvaluationTable,
  type GroundTruth,
  scoreImage,
  summarize,
  summarizeJoints,
} from "../../src/detect/evaluate.js";
import { COCO_SIGMAS, COCO_TO_MEDIAPIPE } from "../../src/detect/landmarks.js";
import type { Detection } from "../../src/detect/schema.js";

/** A person standing in a 100 x 200 px box: landmark i at a fixed, spread-out position. */
function makeGroundTruth(v: (i: number) => number = () => 2, area?: number): GroundTruth {
  const landmarks = Array.from({ length: 33 }, (_, i): [number, number, number] => [
    50 + (i % 11) * 10,
    40 + Math.floor(i / 11) * 100,
    v(i),
  ]);
  // Pin the box: one landmark at each corner of 50..150 x 40..240.
  landmarks[31] = [50, 240, v(31)];
  landmarks[32] = [150, 40, v(32)];
  return { landmarks, area };
}

function detectionFrom(points: [number, number][], found = true): Detection {
  const width = 300;
  const height = 300;
  return {
    version: 1,
    image: "renders/c/clip/az000_el10/f0001.png",
    width,
    height,
    backend: "web",
    model: { name: "test", version: "1" },
    found,
    poses: found
      ? [
          {
            landmarks: points.map(([px, py]) => ({
              x: px / width,
              y: py / height,
              z: 0,
              px,
              py,
              visibility: 1,
              presence: 1,
            })),
            worldLandmarks: points.map(() => ({ x: 0, y: 0, z: 0, visibility: 1, presence: 1 })),
          },
        ]
      : [],
    seconds: 0.01,
  };
}

const shifted = (gt: GroundTruth, dx: number, dy: number) =>
  detectionFrom(gt.landmarks.map(([x, y]) => [x + dx, y + dy]));

describe("box size", () => {
  it("is max(w, h) of the labelled landmarks' box", () => {
    expect(computeBoxSize(makeGroundTruth().landmarks)).toBe(200);
  });
  it("ignores landmarks outside the image (v = 0)", () => {
    const gt = makeGroundTruth();
    gt.landmarks.push([1000, 1000, 0]);
    expect(computeBoxSize(gt.landmarks)).toBe(200);
  });
});

describe("PCK", () => {
  it("is 1 at every threshold for a perfect detection", () => {
    const gt = makeGroundTruth();
    const s = summarize([scoreImage(gt, shifted(gt, 0, 0))]);
    expect(s.visible.pck).toEqual({ "0.05": 1, "0.1": 1, "0.2": 1 });
    expect(s.visible.joints).toBe(17);
    expect(s.visible.meanErrorPx).toBe(0);
    expect(s.detectionRate).toBe(1);
    expect(s.meanOks).toBeCloseTo(1, 10);
  });

  it("follows a known shift: 15 px on a 200 px box passes 0.1 and 0.2, fails 0.05", () => {
    const gt = makeGroundTruth();
    // 0.05 * 200 = 10 px < 15 px <= 0.1 * 200 = 20 px
    const s = summarize([scoreImage(gt, shifted(gt, 9, 12))]);
    expect(s.visible.pck).toEqual({ "0.05": 0, "0.1": 1, "0.2": 1 });
    expect(s.visible.meanErrorPx).toBeCloseTo(15, 10);
  });

  it("treats a distance exactly at the threshold as correct", () => {
    const gt = makeGroundTruth();
    const s = summarize([scoreImage(gt, shifted(gt, 20, 0))]);
    expect(s.visible.pck["0.1"]).toBe(1);
    expect(s.visible.pck["0.05"]).toBe(0);
  });

  it("counts a missing pose as wrong everywhere and OKS 0", () => {
    const gt = makeGroundTruth();
    const missing = summarize([scoreImage(gt, detectionFrom([], false))]);
    expect(missing.visible.pck).toEqual({ "0.05": 0, "0.1": 0, "0.2": 0 });
    expect(missing.visible.joints).toBe(17);
    expect(missing.visible.meanErrorPx).toBeNull();
    expect(missing.detectionRate).toBe(0);
    expect(missing.meanOks).toBe(0);
    const noFile = summarize([scoreImage(gt, undefined)]);
    expect(noFile).toEqual(missing);
  });

  it("averages a perfect and a missed image to half", () => {
    const gt = makeGroundTruth();
    const s = summarize([scoreImage(gt, shifted(gt, 0, 0)), scoreImage(gt, undefined)]);
    expect(s.visible.pck["0.2"]).toBe(0.5);
    expect(s.detectionRate).toBe(0.5);
    expect(s.meanOks).toBeCloseTo(0.5, 10);
  });

  it("reports occluded joints (v = 1) separately and ignores v = 0", () => {
    // COCO joints: the 5 face points occluded, the left wrist outside the image.
    const occludedSet = new Set([0, 2, 5, 7, 8]);
    const gt = makeGroundTruth((i) => (occludedSet.has(i) ? 1 : i === 15 ? 0 : 2));
    // Move only the occluded joints far away: visible PCK stays perfect.
    const det = shifted(gt, 0, 0);
    for (const i of occludedSet) det.poses[0]!.landmarks[i]!.px += 100;
    const s = summarize([scoreImage(gt, det)]);
    expect(s.visible.joints).toBe(17 - 5 - 1);
    expect(s.visible.pck["0.05"]).toBe(1);
    expect(s.occluded.joints).toBe(5);
    expect(s.occluded.pck["0.2"]).toBe(0);
    const perJoint = summarizeJoints(
      [scoreImage(gt, det)],
      COCO_TO_MEDIAPIPE,
      [...Array(17).keys()].map(String),
    );
    expect(perJoint["0"]!.visible.joints).toBe(0);
    expect(perJoint["0"]!.occluded.joints).toBe(1);
    expect(perJoint["9"]!.visible.joints).toBe(0); // left wrist, v = 0
    expect(perJoint["9"]!.occluded.joints).toBe(0);
  });
});

describe("left/right swap", () => {
  it("flags a detection that mirrors left and right, and not a good one", () => {
    // Spread the left and right body joints apart: mirrored pairs are far from each other.
    const gt = makeGroundTruth();
    for (let i = 11; i <= 32; i++) gt.landmarks[i] = [i % 2 === 1 ? 150 : 50, 40 + i * 8, 2];
    const mirrored = shifted(gt, 0, 0);
    for (let i = 11; i <= 32; i++) {
      const twin = i % 2 === 1 ? i + 1 : i - 1;
      mirrored.poses[0]!.landmarks[i]!.px = gt.landmarks[twin]![0];
      mirrored.poses[0]!.landmarks[i]!.py = gt.landmarks[twin]![1];
    }
    expect(scoreImage(gt, mirrored).leftRightSwapped).toBe(true);
    expect(scoreImage(gt, shifted(gt, 2, 2)).leftRightSwapped).toBe(false);
    expect(summarize([scoreImage(gt, mirrored), scoreImage(gt, undefined)]).leftRightSwapped).toBe(
      1,
    );
  });
});

describe("OKS", () => {
  it("matches COCO's formula for a known shift", () => {
    const area = 100 * 200;
    const gt = makeGroundTruth(() => 2, area);
    const d = 5;
    const oks = computeOks(gt, shifted(gt, 3, 4).poses[0]!.landmarks)!;
    const expected =
      COCO_SIGMAS.map((s) => Math.exp(-(d * d) / (2 * area * (2 * s) ** 2))).reduce(
        (a, b) => a + b,
        0,
      ) / 17;
    expect(oks).toBeCloseTo(expected, 12);
    expect(oks).toBeLessThan(1);
  });

  it("uses the keypoint box when the bbox area is missing", () => {
    const gt = makeGroundTruth();
    const withArea = computeOks({ ...gt, area: 100 * 200 }, shifted(gt, 3, 4).poses[0]!.landmarks);
    expect(computeOks(gt, shifted(gt, 3, 4).poses[0]!.landmarks)).toBeCloseTo(withArea!, 12);
  });

  it("averages over labelled joints only and is undefined without any", () => {
    const gt = makeGroundTruth((i) => (i === 0 ? 2 : 0), 1000);
    expect(computeOks(gt, shifted(gt, 0, 0).poses[0]!.landmarks)).toBe(1);
    expect(
      computeOks(
        makeGroundTruth(() => 0),
        undefined,
      ),
    ).toBeUndefined();
  });
});

describe("table", () => {
  it("lists the worst view first", () => {
    const gt = makeGroundTruth();
    const good = summarize([scoreImage(gt, shifted(gt, 0, 0))]);
    const bad = summarize([scoreImage(gt, undefined)]);
    const table = formatEvaluationTable({
      perView: { az000_el10: good, az180_el10: bad },
      overall: summarize([scoreImage(gt, shifted(gt, 0, 0)), scoreImage(gt, undefined)]),
    } as never);
    const lines = table.split("\n");
    expect(lines[0]).toMatch(/^view\s+images\s+found/);
    expect(lines[1]).toMatch(/^az180_el10/);
    expect(lines[2]).toMatch(/^az000_el10/);
    expect(lines[3]).toMatch(/^overall .* 50\.0%/);
  });
});
