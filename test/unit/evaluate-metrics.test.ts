/**
 * The comparable metrics against hand-computed cases: torso-normalized PCK, MPJPE and
 * PA-MPJPE, COCO OKS with the segment area, and COCO keypoint AP/AR on small cases whose
 * precision-recall curve is worked out by hand. (COCOeval itself is compared on a real export
 * in test/integration/export-coco.test.ts.)
 */
import { describe, expect, it } from "vitest";
import { cocoKeypointMetrics, cocoOks } from "../../src/detect/coco-eval.js";
import {
  conditionsOf,
  type GroundTruth,
  sceneConditions,
  scoreImage,
  summarize,
  torsoDiameter,
} from "../../src/detect/evaluate.js";
import { COCO_SIGMAS, COCO_TO_MEDIAPIPE } from "../../src/detect/landmarks.js";
import {
  hipCentred,
  mpjpe,
  poseErrorsMm,
  procrustesAlign,
  type Vec3,
} from "../../src/detect/pose3d.js";
import type { Detection } from "../../src/detect/schema.js";

/** Torso: shoulders at (40, 50) / (60, 50), hips at (45, 90) / (55, 90); everything else on a grid. */
function makeGroundTruth(): GroundTruth {
  const landmarks = Array.from({ length: 33 }, (_, i): [number, number, number] => [
    20 + (i % 6) * 12,
    20 + Math.floor(i / 6) * 20,
    2,
  ]);
  landmarks[11] = [40, 50, 2]; // left shoulder
  landmarks[12] = [60, 50, 2]; // right shoulder
  landmarks[23] = [45, 90, 2]; // left hip
  landmarks[24] = [55, 90, 2]; // right hip
  return { landmarks, area: 1000 };
}

function detection(points: [number, number][], world?: Vec3[], presence = 1): Detection {
  return {
    version: 1,
    image: "renders/c/clip/az000_el10/f0001.png",
    width: 200,
    height: 200,
    backend: "web",
    model: { name: "test", version: "1" },
    found: true,
    poses: [
      {
        landmarks: points.map(([px, py]) => ({
          x: px / 200,
          y: py / 200,
          z: 0,
          px,
          py,
          visibility: 1,
          presence,
        })),
        worldLandmarks: (world ?? points.map(() => [0, 0, 0] as Vec3)).map(([x, y, z]) => ({
          x,
          y,
          z,
          visibility: 1,
          presence: 1,
        })),
      },
    ],
    seconds: 0,
  };
}

describe("torso PCK@0.2", () => {
  it("uses the longer torso diagonal: hand-computed 0.2 * sqrt(15^2 + 40^2)", () => {
    const gt = makeGroundTruth();
    // |left_shoulder - right_hip| = |(40,50) - (55,90)| = sqrt(225 + 1600) = 42.72;
    // |right_shoulder - left_hip| = |(60,50) - (45,90)| = the same.
    expect(torsoDiameter(gt.landmarks)).toBeCloseTo(Math.sqrt(1825), 10);
    const limit = 0.2 * Math.sqrt(1825); // 8.544 px
    // Shift every point by 8.5 px (inside) except the COCO knees by 8.6 px (outside).
    const knees = new Set([25, 26]);
    const points = gt.landmarks.map(([x, y], i): [number, number] => [
      x + (knees.has(i) ? 8.6 : 8.5),
      y,
    ]);
    expect(8.5).toBeLessThan(limit);
    expect(8.6).toBeGreaterThan(limit);
    const summary = summarize([scoreImage(gt, detection(points))]);
    expect(summary.visible.joints).toBe(17);
    expect(summary["pckTorso@0.2"]).toBeCloseTo(15 / 17, 10);
    expect(summary.visible["pckTorso@0.2"]).toBeCloseTo(15 / 17, 10);
  });

  it("counts a missed image's joints as wrong and prefers the projected torso when given", () => {
    const gt = { ...makeGroundTruth(), torsoSize: 100 };
    const points = gt.landmarks.map(([x, y]): [number, number] => [x + 19, y]); // 19 < 0.2 * 100
    const found = scoreImage(gt, detection(points));
    const missed = scoreImage(gt, undefined);
    expect(found.torsoSize).toBe(100);
    const summary = summarize([found, missed]);
    expect(summary["pckTorso@0.2"]).toBeCloseTo(0.5, 10);
  });
});

describe("MPJPE and PA-MPJPE", () => {
  const truth: Vec3[] = Array.from({ length: 33 }, (_, i) => [
    0.1 * (i % 5),
    0.2 * Math.floor(i / 5) - 0.5,
    0.05 * ((i * 7) % 3),
  ]);
  truth[23] = [-0.1, 0, 0];
  truth[24] = [0.1, 0, 0];
  const identity = {
    R: [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ] as [Vec3, Vec3, Vec3],
    t: [0, 0, 3] as Vec3,
  };

  it("is the mean joint distance after hip-centring: every joint 30 mm off gives 30 mm", () => {
    // A constant 3 cm offset on all joints except the hips moves the hip centre by nothing, so
    // every COCO joint other than the hips is 30 mm off and the two hips are 0 mm off.
    const predicted = hipCentred(truth).map(
      (p, i): Vec3 => (i === 23 || i === 24 ? p : [p[0] + 0.03, p[1], p[2]]),
    );
    const { mpjpeMm } = poseErrorsMm(predicted, truth, identity, COCO_TO_MEDIAPIPE);
    expect(mpjpeMm).toBeCloseTo((30 * 15) / 17, 6);
  });

  it("takes the camera out of the ground truth: a camera turned 90 deg about Y", () => {
    // World -> camera: x_cam = -z, z_cam = x (a rotation), t any: hip-centring removes t.
    const camera = {
      R: [
        [0, 0, -1],
        [0, 1, 0],
        [1, 0, 0],
      ] as [Vec3, Vec3, Vec3],
      t: [0.3, -1, 4] as Vec3,
    };
    const inCamera = hipCentred(truth.map(([x, y, z]): Vec3 => [-z, y, x]));
    const { mpjpeMm, paMpjpeMm } = poseErrorsMm(inCamera, truth, camera, COCO_TO_MEDIAPIPE);
    expect(mpjpeMm).toBeCloseTo(0, 9);
    expect(paMpjpeMm).toBeCloseTo(0, 6);
  });

  it("PA removes scale, rotation and translation but not shape errors", () => {
    const angle = 0.7;
    const [c, s] = [Math.cos(angle), Math.sin(angle)];
    const similar = truth.map(
      ([x, y, z]): Vec3 => [
        1.3 * (c * x - s * z) + 0.2,
        1.3 * y - 0.1,
        1.3 * (s * x + c * z) + 0.5,
      ],
    );
    const { mpjpeMm, paMpjpeMm } = poseErrorsMm(similar, truth, identity, COCO_TO_MEDIAPIPE);
    expect(mpjpeMm).toBeGreaterThan(50);
    expect(paMpjpeMm).toBeCloseTo(0, 6);
    // Procrustes is least squares: with a single joint moved by 10 cm the squared error after
    // alignment is no larger than without, and the shape error is not removed.
    const bent = truth.map((p, i): Vec3 => (i === 0 ? [p[0] + 0.1, p[1], p[2]] : p));
    const sub = COCO_TO_MEDIAPIPE.map((i) => bent[i]!);
    const subTruth = COCO_TO_MEDIAPIPE.map((i) => truth[i]!);
    const aligned = procrustesAlign(sub, subTruth);
    const all = sub.map((_, k) => k);
    const squared = (a: Vec3[]) =>
      a.reduce((s, p, k) => s + mpjpe([p], [subTruth[k]!], [0]) ** 2, 0);
    expect(mpjpe(aligned, subTruth, all)).toBeGreaterThan(0.001);
    expect(squared(aligned)).toBeLessThanOrEqual(squared(sub) + 1e-12);
  });

  it("averages over images with a pose only", () => {
    const gt: GroundTruth = { ...makeGroundTruth(), world: truth, camera: identity };
    const world = hipCentred(truth.map(([x, y, z]): Vec3 => [x, y, z + 3]));
    const found = scoreImage(
      gt,
      detection(
        gt.landmarks.map(([x, y]) => [x, y]),
        world,
      ),
    );
    const summary = summarize([found, scoreImage(gt, undefined)]);
    expect(summary.mpjpeMm).toBeCloseTo(0, 6);
    expect(summarize([scoreImage(gt, undefined)]).mpjpeMm).toBeNull();
  });
});

describe("COCO OKS and keypoint AP", () => {
  const gtKeypoints = Array.from({ length: 17 }, (_, i): [number, number, number] => [
    10 * i,
    5 * i,
    2,
  ]);

  it("OKS uses the segment area: hand-computed exp(-d^2 / (2 * area * (2 sigma)^2))", () => {
    const area = 400;
    const dt = {
      keypoints: gtKeypoints.map(([x, y]): [number, number] => [x + 3, y + 4]),
      score: 1,
    };
    const expected =
      COCO_SIGMAS.reduce((sum, s) => sum + Math.exp(-25 / (2 * area * (2 * s) ** 2)), 0) / 17;
    expect(cocoOks({ keypoints: gtKeypoints, area }, dt)).toBeCloseTo(expected, 12);
    // Twice the area (a box instead of a mask) is more lenient.
    expect(cocoOks({ keypoints: gtKeypoints, area: 800 }, dt)!).toBeGreaterThan(expected);
  });

  it("AP: two images, a perfect detection and a miss: precision 1 up to recall 0.5", () => {
    const gt = { keypoints: gtKeypoints, area: 400 };
    const perfect = {
      keypoints: gtKeypoints.map(([x, y]): [number, number] => [x, y]),
      score: 0.9,
    };
    const metrics = cocoKeypointMetrics([
      { gts: [gt], dts: [perfect] },
      { gts: [gt], dts: [] },
    ])!;
    // Recall thresholds 0, 0.01, ..., 0.5 (51 of 101) have precision 1, the rest 0.
    expect(metrics.AP).toBeCloseTo(51 / 101, 12);
    expect(metrics.AP50).toBeCloseTo(51 / 101, 12);
    expect(metrics.AR).toBeCloseTo(0.5, 12);
  });

  it("AP: a wrong detection scored above a right one; AP75 sees a 0.6-OKS match as wrong", () => {
    const area = 400;
    const gt = { keypoints: gtKeypoints, area };
    const right = { keypoints: gtKeypoints.map(([x, y]): [number, number] => [x, y]), score: 0.5 };
    const far = {
      keypoints: gtKeypoints.map(([x, y]): [number, number] => [x + 500, y]),
      score: 0.9,
    };
    // Image 1: the far detection (score 0.9) is a false positive, then the right one matches.
    // Sorted by score: FP, TP -> precision 0 then 0.5 at recall 1: interpolated 0.5 everywhere.
    const metrics = cocoKeypointMetrics([{ gts: [gt], dts: [far, right] }])!;
    expect(metrics.AP).toBeCloseTo(0.5, 12);
    expect(metrics.AR).toBeCloseTo(1, 12);
    // A detection with OKS 0.62 matches at the thresholds 0.50, 0.55 and 0.60 only.
    const shift = (() => {
      // Solve OKS(shift) = 0.62 by bisection: a uniform x shift of every keypoint.
      let lo = 0;
      let hi = 100;
      for (let i = 0; i < 200; i++) {
        const mid = (lo + hi) / 2;
        const oks = cocoOks(gt, {
          keypoints: gtKeypoints.map(([x, y]): [number, number] => [x + mid, y]),
          score: 1,
        })!;
        if (oks > 0.62) lo = mid;
        else hi = mid;
      }
      return lo;
    })();
    const middling = {
      keypoints: gtKeypoints.map(([x, y]): [number, number] => [x + shift, y]),
      score: 1,
    };
    const m = cocoKeypointMetrics([{ gts: [gt], dts: [middling] }])!;
    expect(m.AP50).toBeCloseTo(1, 12);
    expect(m.AP75).toBe(0);
    expect(m.AP).toBeCloseTo(0.3, 12); // thresholds 0.50, 0.55, 0.60 of ten
  });

  it("ignores ground truths without labelled keypoints; null when nothing can be scored", () => {
    const empty = {
      keypoints: gtKeypoints.map(([x, y]): [number, number, number] => [x, y, 0]),
      area: 10,
    };
    expect(cocoKeypointMetrics([{ gts: [empty], dts: [] }])).toBeNull();
  });
});

describe("conditions of an image", () => {
  it("bins camera distance, flags truncation and reads the scene's background and light level", () => {
    const gt: GroundTruth = {
      ...makeGroundTruth(),
      world: Array.from({ length: 33 }, (): Vec3 => [0, 0, 1]),
      camera: {
        R: [
          [1, 0, 0],
          [0, 1, 0],
          [0, 0, 1],
        ],
        t: [0, 0, 2.5],
      },
    };
    gt.landmarks[27] = [0, 0, 0]; // left ankle outside the image
    expect(
      conditionsOf(gt, {
        background: { kind: "hdri", file: "studio.hdr" },
        lightLevel: 5.5,
        occluder: null,
      }),
    ).toEqual({
      background: "hdri studio.hdr",
      lightLevel: "bright (>= 5)",
      occlusion: "none",
      truncation: "truncated",
      distance: "3-4 m",
    });
    expect(sceneConditions({ background: { kind: "sky" }, lightLevel: 1 })).toEqual({
      background: "sky",
      lightLevel: "dim (< 2)",
    });
  });
});
