/**
 * Scores detections against the rig's ground truth (annotations.json).
 *
 * Definitions (also written into evaluation.json so the numbers explain themselves):
 *  - Box size of an image: max(width, height) of the axis-aligned box around the ground-truth
 *    MediaPipe landmarks that lie in the image (v > 0). It comes from the joints, not from the
 *    mesh, so it is the same whatever produced the annotation's `bbox`.
 *  - PCK@a: a joint counts as correct when the detected point is within a * box size of the
 *    ground truth. Computed over visible joints (v = 2); occluded joints (v = 1) are reported
 *    separately; joints outside the image (v = 0) are ignored. An image where the detector found
 *    no pose (or wrote no file) counts all its joints as wrong, so PCK includes misses; the
 *    detection rate tells the two failure kinds apart.
 *  - Torso diameter of an image: the longer torso diagonal, max(|left_shoulder - right_hip|,
 *    |right_shoulder - left_hip|), in pixels, of the ground-truth joints projected through the
 *    image's camera (from keypoints_3d, so it exists even when the torso is cut off the image;
 *    the 2D keypoints when there is no 3D). PCK-torso@0.2 (MediaPipe's published convention,
 *    BlazePose paper): a joint is correct within 0.2 * torso diameter; same joints and misses as
 *    PCK.
 *  - OKS (COCO): mean over labelled joints (v > 0) of exp(-d^2 / (2 * area * k^2)), k = 2 * sigma,
 *    with COCO's sigmas over the 17 COCO keypoints and area = the person's SEGMENT area (pixels
 *    of the rendered mask, as COCO's `area`); the bbox area only when the render has no mask
 *    nor alpha (then a warning says so). A missed image has OKS 0.
 *  - AP, AP50, AP75, AR: COCO keypoint evaluation exactly as pycocotools' COCOeval (coco-eval.ts),
 *    a detection's score = the mean presence of its 17 COCO landmarks.
 *  - MPJPE / PA-MPJPE (mm): MediaPipe's worldLandmarks against keypoints_3d in the camera frame,
 *    both hip-centred, over the 17 COCO keypoints; PA after Procrustes with scale (pose3d.ts).
 *    Images without a pose are left out (the detection rate counts them).
 *  - Headline numbers use the 17 COCO keypoints; per-landmark numbers cover all 33.
 */
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join, posix } from "node:path";
import { UserError } from "../errors.js";
import { annotationsPath, detectionPathOf, RunFiles, rendersDir } from "../run/paths.js";
import { type CocoImageEval, cocoKeypointMetrics } from "./coco-eval.js";
import {
  COCO_KEYPOINTS,
  COCO_SIGMAS,
  COCO_TO_MEDIAPIPE,
  MEDIAPIPE_LANDMARKS,
} from "./landmarks.js";
import { maskArea, readMask } from "./mask.js";
import { poseErrorsMm, toCamera, type Vec3 } from "./pose3d.js";
import { type Annotations, annotationsSchema, type Detection, detectionSchema } from "./schema.js";

export const PCK_THRESHOLDS = [0.05, 0.1, 0.2] as const;
export type PckKey = "0.05" | "0.1" | "0.2";
export type Pck = Record<PckKey, number>;

export const EVALUATION_DEFINITIONS = {
  boxSize:
    "max(width, height) of the box around the ground-truth MediaPipe landmarks inside the image (v > 0)",
  pck: "share of joints whose detection lies within a * box size of the ground truth; visible joints (v = 2) only, missed images count as wrong",
  occluded: "the same PCK over joints the rig marks occluded (v = 1)",
  oks: "COCO object keypoint similarity over the 17 COCO keypoints with COCO sigmas, area = the segment (mask) area in pixels, as COCO's; missed images score 0",
  torsoDiameter:
    "max(|left_shoulder - right_hip|, |right_shoulder - left_hip|) in pixels of the ground-truth joints projected through the image's camera",
  "pckTorso@0.2":
    "MediaPipe's convention: share of joints within 0.2 * torso diameter of the ground truth; visible joints (v = 2) of the 17 COCO keypoints, missed images count as wrong",
  AP: "COCO keypoint AP as pycocotools' COCOeval: OKS (mask area) thresholds 0.50:0.05:0.95, 101 recall points, maxDets 20, area all; score = mean presence of the 17 COCO landmarks",
  AP50: "COCO keypoint AP at OKS 0.50",
  AP75: "COCO keypoint AP at OKS 0.75",
  AR: "COCO keypoint AR (mean recall over OKS 0.50:0.05:0.95, maxDets 20)",
  mpjpeMm:
    "mean 3D joint error in mm of MediaPipe worldLandmarks vs the rig's joints in the camera frame, both hip-centred, 17 COCO keypoints; images with a pose only",
  paMpjpeMm: "MPJPE after Procrustes alignment with scale (rotation, translation, scale)",
  detectionRate: "images where the detector found a pose / images scored",
  leftRightSwapped:
    "images whose detection fits the ground truth far better with left and right exchanged (mean error of shoulders..ankles under half)",
  joints: "headline numbers use the 17 COCO keypoints; perLandmark covers MediaPipe's 33",
} as const;

/** Ground truth for one image, in MediaPipe's 33-landmark layout: [x, y, v] pixels. */
export interface GroundTruth {
  landmarks: [number, number, number][];
  /** The person's segment (mask) area in pixels; 0 or missing = use the keypoint box. */
  area?: number;
  /** Torso diameter in pixels (see torsoDiameter); missing = from the 2D landmarks. */
  torsoSize?: number;
  /** The 33 joints in world metres and the image's camera, for MPJPE. */
  world?: Vec3[];
  camera?: { R: [Vec3, Vec3, Vec3]; t: Vec3 };
}

export interface JointResult {
  /** MediaPipe landmark index. */
  index: number;
  v: number;
  /** Pixel distance, undefined when no pose was found. */
  distance?: number;
}

export interface ImageScore {
  found: boolean;
  boxSize: number;
  /** Torso diameter in pixels; 0 when it cannot be measured. */
  torsoSize: number;
  /** 3D errors; undefined without a pose or without 3D ground truth. */
  mpjpeMm?: number;
  paMpjpeMm?: number;
  /** This image's ground truth and detections as COCOeval sees them. */
  coco: CocoImageEval;
  /** undefined when the image has no labelled COCO keypoint. */
  oks?: number;
  /**
   * The detection matches the ground truth much better with left and right exchanged: the
   * detector took a front view for a back view (or the reverse). PCK counts such joints as wrong.
   */
  leftRightSwapped: boolean;
  joints: JointResult[];
}

interface Counter {
  n: number;
  hits: Record<PckKey, number>;
  /** Hits within 0.2 * torso diameter. */
  torsoHits: number;
  /** Sum of pixel errors over joints with a detection. */
  errorSum: number;
  errorN: number;
}

export interface PckStats {
  joints: number;
  pck: Pck;
  /** PCK with the torso diameter as the normalizer (MediaPipe's convention). */
  "pckTorso@0.2": number;
  /** Mean pixel error over joints that have a detection (misses excluded). */
  meanErrorPx: number | null;
}

export interface Summary {
  images: number;
  detected: number;
  detectionRate: number;
  /** Images whose detection has left and right exchanged (see ImageScore.leftRightSwapped). */
  leftRightSwapped: number;
  visible: PckStats;
  occluded: PckStats;
  meanOks: number | null;
  /** = visible["pckTorso@0.2"], the number to set against MediaPipe's table. */
  "pckTorso@0.2": number;
  AP: number | null;
  AP50: number | null;
  AP75: number | null;
  AR: number | null;
  /** Over the images with a pose and 3D ground truth; null when none. */
  mpjpeMm: number | null;
  paMpjpeMm: number | null;
}

export interface ImageRecord {
  character: string;
  clip: string;
  view: string;
  frame: number;
  /** Relative to the run folder. */
  image: string;
  detection: string;
  found: boolean;
  leftRightSwapped: boolean;
  boxSize: number;
  torsoSize: number;
  /** Segment area used for OKS, pixels. */
  area: number;
  oks: number | null;
  mpjpeMm: number | null;
  paMpjpeMm: number | null;
  /** The image's condition values (camera distance bin, ...) used for perCondition. */
  conditions: Record<string, string>;
  visible: PckStats;
  occluded: PckStats;
}

export interface Evaluation {
  version: 1;
  createdAt: string;
  thresholds: number[];
  definitions: typeof EVALUATION_DEFINITIONS;
  overall: Summary;
  perCharacter: Record<string, Summary>;
  perView: Record<string, Summary>;
  /** By condition, then by its value: `perCondition.distance["2-3 m"]`. */
  perCondition: Record<string, Record<string, Summary>>;
  /** COCO-17 keypoints, by name. */
  perJoint: Record<string, { visible: PckStats; occluded: PckStats }>;
  /** All 33 MediaPipe landmarks, by name. */
  perLandmark: Record<string, { visible: PckStats; occluded: PckStats }>;
  /**
   * Every model whose detections the run holds (detections/ and detections-<model>/), by model
   * name, on the same images; the top-level numbers are those of detections/ (detect.model).
   */
  models: Record<string, ModelEvaluation>;
  images: ImageRecord[];
  /** The detectors that produced the detections: "web pose_landmarker_full (npm:...)". */
  detectors: string[];
  /** Problems that did not stop the evaluation (a character without annotations, ...). */
  warnings: string[];
}

const COCO_SET = new Set<number>(COCO_TO_MEDIAPIPE);

/** MediaPipe landmark index of the same point on the other side of the body. */
export const MIRRORED_LANDMARK: readonly number[] = (() => {
  const mirror = Array.from({ length: 33 }, (_, i) => i);
  const pairs = [
    [1, 4],
    [2, 5],
    [3, 6],
    [7, 8],
    [9, 10],
    [11, 12],
    [13, 14],
    [15, 16],
    [17, 18],
    [19, 20],
    [21, 22],
    [23, 24],
    [25, 26],
    [27, 28],
    [29, 30],
    [31, 32],
  ];
  for (const [a, b] of pairs) {
    mirror[a!] = b!;
    mirror[b!] = a!;
  }
  return mirror;
})();

/**
 * Swapped when, over the labelled body joints (shoulders to ankles), the mean error with left and
 * right exchanged is under half the direct one and the direct one exceeds 5% of the box.
 */
function isLeftRightSwapped(
  gt: GroundTruth,
  detected: { px: number; py: number }[],
  boxSize: number,
): boolean {
  let direct = 0;
  let mirrored = 0;
  let n = 0;
  for (let i = 11; i <= 28; i++) {
    const g = gt.landmarks[i];
    const d = detected[i];
    const m = detected[MIRRORED_LANDMARK[i]!];
    if (!g || g[2] <= 0 || !d || !m) continue;
    direct += Math.hypot(d.px - g[0], d.py - g[1]);
    mirrored += Math.hypot(m.px - g[0], m.py - g[1]);
    n++;
  }
  if (n < 4) return false;
  return mirrored < 0.5 * direct && direct / n > 0.05 * boxSize;
}

/** Box size: max(w, h) of the labelled landmarks' box; 0 when fewer than two are labelled. */
export function computeBoxSize(landmarks: GroundTruth["landmarks"]): number {
  const labelled = landmarks.filter(([, , v]) => v > 0);
  if (labelled.length < 2) return 0;
  const xs = labelled.map(([x]) => x);
  const ys = labelled.map(([, y]) => y);
  return Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys));
}

function keypointBoxArea(landmarks: GroundTruth["landmarks"]): number {
  const labelled = landmarks.filter(([, , v]) => v > 0);
  if (labelled.length < 2) return 0;
  const xs = labelled.map(([x]) => x);
  const ys = labelled.map(([, y]) => y);
  return (Math.max(...xs) - Math.min(...xs)) * (Math.max(...ys) - Math.min(...ys));
}

/** COCO OKS of one detection against one ground truth, over the 17 COCO keypoints. */
export function computeOks(
  gt: GroundTruth,
  detected: { px: number; py: number }[] | undefined,
): number | undefined {
  const area = gt.area && gt.area > 0 ? gt.area : keypointBoxArea(gt.landmarks);
  let sum = 0;
  let n = 0;
  COCO_TO_MEDIAPIPE.forEach((mp, i) => {
    const g = gt.landmarks[mp];
    if (!g || g[2] <= 0) return;
    n++;
    const d = detected?.[mp];
    if (!d) return;
    const k = 2 * COCO_SIGMAS[i]!;
    const d2 = (d.px - g[0]) ** 2 + (d.py - g[1]) ** 2;
    sum += Math.exp(-d2 / (2 * Math.max(area, Number.EPSILON) * k * k));
  });
  return n === 0 ? undefined : sum / n;
}

const LEFT_SHOULDER = 11;
const RIGHT_SHOULDER = 12;
const LEFT_HIP = 23;
const RIGHT_HIP = 24;

/** The longer torso diagonal of 33 points [x, y, ...] (MediaPipe order), pixels. */
export function torsoDiameter(points: readonly (readonly number[])[]): number {
  const d = (a: number, b: number) =>
    Math.hypot(points[a]![0]! - points[b]![0]!, points[a]![1]! - points[b]![1]!);
  return Math.max(d(LEFT_SHOULDER, RIGHT_HIP), d(RIGHT_SHOULDER, LEFT_HIP));
}

/** Pixel position of a world point through K, R, t (no image bounds). */
export function projectPoint(
  point: Vec3,
  camera: { K: [Vec3, Vec3, Vec3]; R: [Vec3, Vec3, Vec3]; t: Vec3 },
): [number, number] {
  const [x, y, z] = toCamera(point, camera.R, camera.t);
  const K = camera.K;
  return [(K[0][0] * x) / z + K[0][2], (K[1][1] * y) / z + K[1][2]];
}

function torsoOf(gt: GroundTruth): number {
  if (gt.torsoSize !== undefined) return gt.torsoSize;
  const torso = [LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP];
  return torso.every((i) => gt.landmarks[i]![2] > 0) ? torsoDiameter(gt.landmarks) : 0;
}

/** Detection score for COCO AP: the mean presence of the 17 COCO landmarks. */
export function poseScore(landmarks: { presence: number }[]): number {
  return COCO_TO_MEDIAPIPE.reduce<number>((s, mp) => s + (landmarks[mp]?.presence ?? 0), 0) / 17;
}

function cocoImageOf(gt: GroundTruth, detection: Detection | undefined): CocoImageEval {
  const area = gt.area && gt.area > 0 ? gt.area : keypointBoxArea(gt.landmarks);
  const keypoints = COCO_TO_MEDIAPIPE.map((mp) => {
    const [x, y, v] = gt.landmarks[mp]!;
    return [x, y, v] as [number, number, number];
  });
  const poses = detection?.found ? detection.poses : [];
  return {
    gts: [{ keypoints, area }],
    dts: poses.map((pose) => ({
      keypoints: COCO_TO_MEDIAPIPE.map((mp) => {
        const l = pose.landmarks[mp]!;
        return [l.px, l.py] as [number, number];
      }),
      score: poseScore(pose.landmarks),
    })),
  };
}

/** Scores one image. `detection` undefined = no detection file (counted as a miss). */
export function scoreImage(gt: GroundTruth, detection: Detection | undefined): ImageScore {
  const pose = detection?.found ? detection.poses[0] : undefined;
  const joints = gt.landmarks.map(([x, y, v], index): JointResult => {
    const d = pose?.landmarks[index];
    return { index, v, distance: d ? Math.hypot(d.px - x, d.py - y) : undefined };
  });
  const boxSize = computeBoxSize(gt.landmarks);
  const errors =
    pose && gt.world && gt.camera && pose.worldLandmarks.length === 33
      ? poseErrorsMm(
          pose.worldLandmarks.map((l) => [l.x, l.y, l.z]),
          gt.world,
          gt.camera,
          COCO_TO_MEDIAPIPE,
        )
      : undefined;
  return {
    found: pose !== undefined,
    boxSize,
    torsoSize: torsoOf(gt),
    mpjpeMm: errors?.mpjpeMm,
    paMpjpeMm: errors?.paMpjpeMm,
    coco: cocoImageOf(gt, detection),
    oks: computeOks(gt, pose?.landmarks),
    leftRightSwapped: pose ? isLeftRightSwapped(gt, pose.landmarks, boxSize) : false,
    joints,
  };
}

function newCounter(): Counter {
  return { n: 0, hits: { "0.05": 0, "0.1": 0, "0.2": 0 }, torsoHits: 0, errorSum: 0, errorN: 0 };
}

function addJoint(counter: Counter, joint: JointResult, score: ImageScore): void {
  counter.n++;
  if (joint.distance === undefined) return;
  counter.errorSum += joint.distance;
  counter.errorN++;
  for (const a of PCK_THRESHOLDS) {
    if (joint.distance <= a * score.boxSize) counter.hits[String(a) as PckKey]++;
  }
  if (joint.distance <= 0.2 * score.torsoSize) counter.torsoHits++;
}

function statsOf(counter: Counter): PckStats {
  const rate = (hits: number) => (counter.n === 0 ? 0 : hits / counter.n);
  return {
    joints: counter.n,
    pck: {
      "0.05": rate(counter.hits["0.05"]),
      "0.1": rate(counter.hits["0.1"]),
      "0.2": rate(counter.hits["0.2"]),
    },
    "pckTorso@0.2": rate(counter.torsoHits),
    meanErrorPx: counter.errorN === 0 ? null : counter.errorSum / counter.errorN,
  };
}

/** Aggregates image scores over the COCO-17 joints (the headline numbers). */
export function summarize(scores: ImageScore[]): Summary {
  const visible = newCounter();
  const occluded = newCounter();
  let oksSum = 0;
  let oksN = 0;
  for (const score of scores) {
    for (const joint of score.joints) {
      if (!COCO_SET.has(joint.index)) continue;
      if (joint.v === 2) addJoint(visible, joint, score);
      else if (joint.v === 1) addJoint(occluded, joint, score);
    }
    if (score.oks !== undefined) {
      oksSum += score.oks;
      oksN++;
    }
  }
  const detected = scores.filter((s) => s.found).length;
  const coco = cocoKeypointMetrics(scores.map((s) => s.coco));
  const mean = (values: (number | undefined)[]) => {
    const present = values.filter((v): v is number => v !== undefined);
    return present.length === 0 ? null : present.reduce((a, b) => a + b, 0) / present.length;
  };
  const visibleStats = statsOf(visible);
  return {
    images: scores.length,
    detected,
    detectionRate: scores.length === 0 ? 0 : detected / scores.length,
    leftRightSwapped: scores.filter((s) => s.leftRightSwapped).length,
    visible: visibleStats,
    occluded: statsOf(occluded),
    meanOks: oksN === 0 ? null : oksSum / oksN,
    "pckTorso@0.2": visibleStats["pckTorso@0.2"],
    AP: coco?.AP ?? null,
    AP50: coco?.AP50 ?? null,
    AP75: coco?.AP75 ?? null,
    AR: coco?.AR ?? null,
    mpjpeMm: mean(scores.map((s) => s.mpjpeMm)),
    paMpjpeMm: mean(scores.map((s) => s.paMpjpeMm)),
  };
}

/** Per-joint stats for the given MediaPipe indices, keyed by `names[i]`. */
export function summarizeJoints(
  scores: ImageScore[],
  indices: readonly number[],
  names: readonly string[],
): Record<string, { visible: PckStats; occluded: PckStats }> {
  const out: Record<string, { visible: PckStats; occluded: PckStats }> = {};
  indices.forEach((index, i) => {
    const visible = newCounter();
    const occluded = newCounter();
    for (const score of scores) {
      const joint = score.joints[index];
      if (!joint) continue;
      if (joint.v === 2) addJoint(visible, joint, score);
      else if (joint.v === 1) addJoint(occluded, joint, score);
    }
    out[names[i]!] = { visible: statsOf(visible), occluded: statsOf(occluded) };
  });
  return out;
}

type CocoImageRecord = Annotations["images"][number];
type CocoAnnotationRecord = Annotations["annotations"][number];

/** Ground truth of one image; `area` is the mask's pixel count when known. */
export function groundTruthOf(
  annotation: CocoAnnotationRecord,
  image?: CocoImageRecord,
  maskArea?: number,
): GroundTruth {
  const flat = annotation.keypoints_mediapipe;
  const landmarks: GroundTruth["landmarks"] = [];
  for (let i = 0; i < 33; i++) landmarks.push([flat[i * 3]!, flat[i * 3 + 1]!, flat[i * 3 + 2]!]);
  const [, , w, h] = annotation.bbox;
  const world = annotation.keypoints_3d as Vec3[];
  const camera = image?.camera;
  return {
    landmarks,
    area: maskArea ?? w * h,
    world,
    camera: camera ? { R: camera.R, t: camera.t } : undefined,
    torsoSize: camera ? torsoDiameter(world.map((p) => projectPoint(p, camera))) : undefined,
  };
}

/**
 * Condition values of an image: the camera's distance to the hips in 1 m bins; truncation
 * ("truncated" when a COCO keypoint falls outside the image, else "whole").
 */
export function conditionsOf(
  gt: GroundTruth,
  scene?: Record<string, unknown>,
): Record<string, string> {
  const conditions: Record<string, string> = { ...sceneConditions(scene) };
  conditions.truncation = COCO_TO_MEDIAPIPE.some((mp) => gt.landmarks[mp]![2] === 0)
    ? "truncated"
    : "whole";
  if (gt.world && gt.camera) {
    const [l, r] = [gt.world[LEFT_HIP]!, gt.world[RIGHT_HIP]!];
    const hips: Vec3 = [(l[0] + r[0]) / 2, (l[1] + r[1]) / 2, (l[2] + r[2]) / 2];
    const metres = Math.hypot(...toCamera(hips, gt.camera.R, gt.camera.t));
    const bin = Math.floor(metres);
    conditions.distance = `${bin}-${bin + 1} m`;
  }
  return conditions;
}

/** Sun strength sum (W/m2) bins of the scene's lamps. */
const LIGHT_BINS: [number, string][] = [
  [2, "dim (< 2)"],
  [5, "medium (2-5)"],
  [Number.POSITIVE_INFINITY, "bright (>= 5)"],
];

/**
 * Conditions drawn by the render (annotations.json per-image `scene`): background (sky, or
 * the HDRI/plate file), light level (bins of the lamps' summed strength), occlusion.
 */
export function sceneConditions(scene?: Record<string, unknown>): Record<string, string> {
  if (!scene) return {};
  const out: Record<string, string> = {};
  const background = scene.background as { kind?: string; file?: string } | undefined;
  if (background?.kind)
    out.background = background.file ? `${background.kind} ${background.file}` : background.kind;
  if (typeof scene.lightLevel === "number") {
    const level = scene.lightLevel;
    out.lightLevel = LIGHT_BINS.find(([limit]) => level < limit)![1];
  }
  if (scene.occluder !== undefined) out.occlusion = scene.occluder ? "occluder" : "none";
  return out;
}

async function readJson(path: string): Promise<unknown> {
  return JSON.parse(await readFile(path, "utf8"));
}

/** Characters of a run: the folders of renders/ that hold an annotations.json. */
async function listCharacters(runDir: string): Promise<string[]> {
  const entries = await readdir(join(runDir, RunFiles.renders), { withFileTypes: true }).catch(
    () => {
      throw new UserError(
        `${join(runDir, RunFiles.renders)} does not exist: render the run first (posefactory render)`,
      );
    },
  );
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

/**
 * Folders of detections in a run: `detections/` (detect.model) first, then one
 * `detections-<model>/` per further model of detect.models, same layout.
 */
export async function listDetectionRoots(runDir: string): Promise<string[]> {
  const entries = await readdir(runDir, { withFileTypes: true }).catch(() => []);
  const extra = entries
    .filter((e) => e.isDirectory() && /^detections-[A-Za-z0-9._-]+$/.test(e.name))
    .map((e) => e.name)
    .sort();
  return [RunFiles.detections, ...extra];
}

export interface EvaluateOptions {
  /** Write evaluation.json (default true). */
  write?: boolean;
}

/** One model's numbers (evaluation.json `models.<name>`). */
export interface ModelEvaluation {
  /** Folder of its detections, relative to the run: detections or detections-<model>. */
  detections: string;
  detectors: string[];
  overall: Summary;
  perCharacter: Record<string, Summary>;
  perView: Record<string, Summary>;
  perCondition: Record<string, Record<string, Summary>>;
}

interface GroundTruthEntry {
  character: string;
  image: CocoImageRecord;
  gt: GroundTruth;
  conditions: Record<string, string>;
}

async function readGroundTruth(runDir: string, warnings: string[]): Promise<GroundTruthEntry[]> {
  const entries: GroundTruthEntry[] = [];
  for (const character of await listCharacters(runDir)) {
    const annotationsFile = join(runDir, annotationsPath(character));
    let annotations: Annotations;
    try {
      const parsed = annotationsSchema.safeParse(await readJson(annotationsFile));
      if (!parsed.success) {
        warnings.push(
          `${character}: annotations.json is not valid: ${parsed.error.issues[0]?.message ?? ""}`,
        );
        continue;
      }
      annotations = parsed.data;
    } catch {
      warnings.push(`${character}: no annotations.json, not scored`);
      continue;
    }
    const byImage = new Map(annotations.annotations.map((a) => [a.image_id, a]));
    let withoutMask = 0;
    for (const image of annotations.images) {
      const annotation = byImage.get(image.id);
      if (!annotation) continue;
      const imagePath = posix.join(rendersDir(character), image.file_name);
      const mask = await readMask(runDir, imagePath).catch(() => undefined);
      if (!mask) withoutMask++;
      const gt = groundTruthOf(annotation, image, mask ? maskArea(mask) : undefined);
      entries.push({ character, image, gt, conditions: conditionsOf(gt, image.scene) });
    }
    if (withoutMask > 0) {
      warnings.push(
        `${character}: ${withoutMask} images have no mask nor alpha channel: their OKS and AP use the box area (render with render.transparent or outputs.mask)`,
      );
    }
  }
  return entries;
}

interface ScoredEntry extends GroundTruthEntry {
  score: ImageScore;
  detectionPath: string;
}

async function scoreRoot(
  runDir: string,
  root: string,
  truth: GroundTruthEntry[],
  warnings: string[],
): Promise<{ scored: ScoredEntry[]; detectors: Set<string> }> {
  const detectors = new Set<string>();
  const scored: ScoredEntry[] = [];
  for (const entry of truth) {
    const imagePath = posix.join(rendersDir(entry.character), entry.image.file_name);
    // detections-<model>/ mirrors detections/.
    const detectionPath = detectionPathOf(imagePath).replace(/^[^/]+/, root);
    let detection: Detection | undefined;
    try {
      const parsed = detectionSchema.safeParse(await readJson(join(runDir, detectionPath)));
      if (parsed.success) {
        detection = parsed.data;
        detectors.add(`${detection.backend} ${detection.model.name} (${detection.model.version})`);
      } else warnings.push(`${detectionPath}: not a valid detection file, counted as a miss`);
    } catch {
      // No file: the detector did not run on this image; scored as a miss.
    }
    scored.push({ ...entry, score: scoreImage(entry.gt, detection), detectionPath });
  }
  return { scored, detectors };
}

function groupBy(
  scored: ScoredEntry[],
  key: (e: ScoredEntry) => string | undefined,
): Record<string, Summary> {
  const groups = new Map<string, ImageScore[]>();
  for (const e of scored) {
    const k = key(e);
    if (k === undefined) continue;
    const list = groups.get(k) ?? [];
    list.push(e.score);
    groups.set(k, list);
  }
  return Object.fromEntries(
    [...groups].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, summarize(v)]),
  );
}

function evaluateModel(
  root: string,
  scored: ScoredEntry[],
  detectors: Set<string>,
): ModelEvaluation {
  const conditionNames = [...new Set(scored.flatMap((e) => Object.keys(e.conditions)))].sort();
  return {
    detections: root,
    detectors: [...detectors].sort(),
    overall: summarize(scored.map((e) => e.score)),
    perCharacter: groupBy(scored, (e) => e.character),
    perView: groupBy(scored, (e) => e.image.view),
    perCondition: Object.fromEntries(
      conditionNames.map((name) => [name, groupBy(scored, (e) => e.conditions[name])]),
    ),
  };
}

/** The key of a model in evaluation.json: its detector's model name, else the folder name. */
function modelKey(root: string, detectors: Set<string>, used: Set<string>): string {
  const name = [...detectors][0]?.split(" ")[1];
  let key = name ?? (root === RunFiles.detections ? "main" : root.replace(/^detections-/, ""));
  while (used.has(key)) key = `${key}@${root}`;
  used.add(key);
  return key;
}

/** Reads annotations and detections of a run folder, scores them, writes evaluation.json. */
export async function evaluateRun(
  runDir: string,
  options: EvaluateOptions = {},
): Promise<Evaluation> {
  const warnings: string[] = [];
  const truth = await readGroundTruth(runDir, warnings);
  if (truth.length === 0) {
    throw new UserError(
      `Nothing to evaluate in ${runDir}: no renders/<character>/annotations.json with images. Render with outputs.keypoints: true`,
    );
  }
  const models: Record<string, ModelEvaluation> = {};
  const used = new Set<string>();
  let main: { scored: ScoredEntry[]; detectors: Set<string> } | undefined;
  for (const root of await listDetectionRoots(runDir)) {
    const result = await scoreRoot(
      runDir,
      root,
      truth,
      root === RunFiles.detections ? warnings : [],
    );
    main ??= result;
    if (root !== RunFiles.detections && result.detectors.size === 0) continue;
    models[modelKey(root, result.detectors, used)] = evaluateModel(
      root,
      result.scored,
      result.detectors,
    );
  }
  const { scored, detectors } = main!;
  const all = scored.map((e) => e.score);
  const images: ImageRecord[] = scored.map((e) => {
    const own = summarize([e.score]);
    return {
      character: e.character,
      clip: e.image.clip,
      view: e.image.view,
      frame: e.image.frame,
      image: posix.join(rendersDir(e.character), e.image.file_name),
      detection: e.detectionPath,
      found: e.score.found,
      leftRightSwapped: e.score.leftRightSwapped,
      boxSize: e.score.boxSize,
      torsoSize: e.score.torsoSize,
      area: e.score.coco.gts[0]!.area,
      oks: e.score.oks ?? null,
      mpjpeMm: e.score.mpjpeMm ?? null,
      paMpjpeMm: e.score.paMpjpeMm ?? null,
      conditions: e.conditions,
      visible: own.visible,
      occluded: own.occluded,
    };
  });
  const mainModel = evaluateModel(RunFiles.detections, scored, detectors);
  const evaluation: Evaluation = {
    version: 1,
    createdAt: new Date().toISOString(),
    thresholds: [...PCK_THRESHOLDS],
    definitions: EVALUATION_DEFINITIONS,
    overall: mainModel.overall,
    perCharacter: mainModel.perCharacter,
    perView: mainModel.perView,
    perCondition: mainModel.perCondition,
    perJoint: summarizeJoints(all, COCO_TO_MEDIAPIPE, COCO_KEYPOINTS),
    perLandmark: summarizeJoints(
      all,
      MEDIAPIPE_LANDMARKS.map((_, i) => i),
      MEDIAPIPE_LANDMARKS,
    ),
    models,
    images,
    detectors: [...detectors].sort(),
    warnings,
  };
  if (options.write !== false) {
    await writeFile(join(runDir, RunFiles.evaluation), `${JSON.stringify(evaluation, null, 2)}\n`);
  }
  return evaluation;
}

const pct = (v: number) => `${(v * 100).toFixed(1)}%`.padStart(6);

/** The compact table: one row per view, worst PCK@0.1 first, then the overall row. */
export function formatEvaluationTable(evaluation: Evaluation): string {
  const header = [
    "view",
    "images",
    "found",
    "L/R swap",
    "PCK@.05",
    "PCK@.1",
    "PCK@.2",
    "torso@.2",
    "OKS",
    "AP",
    "MPJPE",
    "occl@.1",
  ];
  const row = (name: string, s: Summary) => [
    name,
    String(s.images),
    pct(s.detectionRate),
    String(s.leftRightSwapped),
    pct(s.visible.pck["0.05"]),
    pct(s.visible.pck["0.1"]),
    pct(s.visible.pck["0.2"]),
    pct(s["pckTorso@0.2"]),
    s.meanOks === null ? "  -" : s.meanOks.toFixed(3),
    s.AP === null ? "  -" : s.AP.toFixed(3),
    s.mpjpeMm === null ? "  -" : `${s.mpjpeMm.toFixed(0)} mm`,
    s.occluded.joints === 0 ? "  -" : pct(s.occluded.pck["0.1"]),
  ];
  const rows = Object.entries(evaluation.perView)
    .sort(
      ([, a], [, b]) =>
        a.visible.pck["0.1"] - b.visible.pck["0.1"] || a.detectionRate - b.detectionRate,
    )
    .map(([view, s]) => row(view, s));
  const all = [header, ...rows, row("overall", evaluation.overall)];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ");
  return [line(header), ...rows.map(line), line(all[all.length - 1]!)].join("\n");
}
