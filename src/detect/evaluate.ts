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
 *  - OKS (COCO): mean over labelled joints (v > 0) of exp(-d^2 / (2 * area * k^2)), k = 2 * sigma,
 *    with COCO's sigmas over the 17 COCO keypoints and area = the annotation's bbox area
 *    (w * h; the keypoint box when the bbox is empty). A missed image has OKS 0.
 *  - Headline numbers use the 17 COCO keypoints; per-landmark numbers cover all 33.
 */
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join, posix } from "node:path";
import { UserError } from "../errors.js";
import { annotationsPath, detectionPathOf, RunFiles, rendersDir } from "../run/paths.js";
import {
  COCO_KEYPOINTS,
  COCO_SIGMAS,
  COCO_TO_MEDIAPIPE,
  MEDIAPIPE_LANDMARKS,
} from "./landmarks.js";
import { type Annotations, annotationsSchema, type Detection, detectionSchema } from "./schema.js";

export const PCK_THRESHOLDS = [0.05, 0.1, 0.2] as const;
export type PckKey = "0.05" | "0.1" | "0.2";
export type Pck = Record<PckKey, number>;

export const EVALUATION_DEFINITIONS = {
  boxSize:
    "max(width, height) of the box around the ground-truth MediaPipe landmarks inside the image (v > 0)",
  pck: "share of joints whose detection lies within a * box size of the ground truth; visible joints (v = 2) only, missed images count as wrong",
  occluded: "the same PCK over joints the rig marks occluded (v = 1)",
  oks: "COCO object keypoint similarity over the 17 COCO keypoints with COCO sigmas, area = bbox w * h; missed images score 0",
  detectionRate: "images where the detector found a pose / images scored",
  leftRightSwapped:
    "images whose detection fits the ground truth far better with left and right exchanged (mean error of shoulders..ankles under half)",
  joints: "headline numbers use the 17 COCO keypoints; perLandmark covers MediaPipe's 33",
} as const;

/** Ground truth for one image, in MediaPipe's 33-landmark layout: [x, y, v] pixels. */
export interface GroundTruth {
  landmarks: [number, number, number][];
  /** The annotation's bbox area (w * h); 0 or missing = use the keypoint box. */
  area?: number;
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
  /** Sum of pixel errors over joints with a detection. */
  errorSum: number;
  errorN: number;
}

export interface PckStats {
  joints: number;
  pck: Pck;
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
  oks: number | null;
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
  /** COCO-17 keypoints, by name. */
  perJoint: Record<string, { visible: PckStats; occluded: PckStats }>;
  /** All 33 MediaPipe landmarks, by name. */
  perLandmark: Record<string, { visible: PckStats; occluded: PckStats }>;
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

/** Scores one image. `detection` undefined = no detection file (counted as a miss). */
export function scoreImage(gt: GroundTruth, detection: Detection | undefined): ImageScore {
  const pose = detection?.found ? detection.poses[0] : undefined;
  const joints = gt.landmarks.map(([x, y, v], index): JointResult => {
    const d = pose?.landmarks[index];
    return { index, v, distance: d ? Math.hypot(d.px - x, d.py - y) : undefined };
  });
  const boxSize = computeBoxSize(gt.landmarks);
  return {
    found: pose !== undefined,
    boxSize,
    oks: computeOks(gt, pose?.landmarks),
    leftRightSwapped: pose ? isLeftRightSwapped(gt, pose.landmarks, boxSize) : false,
    joints,
  };
}

function newCounter(): Counter {
  return { n: 0, hits: { "0.05": 0, "0.1": 0, "0.2": 0 }, errorSum: 0, errorN: 0 };
}

function addJoint(counter: Counter, joint: JointResult, boxSize: number): void {
  counter.n++;
  if (joint.distance === undefined) return;
  counter.errorSum += joint.distance;
  counter.errorN++;
  for (const a of PCK_THRESHOLDS) {
    if (joint.distance <= a * boxSize) counter.hits[String(a) as PckKey]++;
  }
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
      if (joint.v === 2) addJoint(visible, joint, score.boxSize);
      else if (joint.v === 1) addJoint(occluded, joint, score.boxSize);
    }
    if (score.oks !== undefined) {
      oksSum += score.oks;
      oksN++;
    }
  }
  const detected = scores.filter((s) => s.found).length;
  return {
    images: scores.length,
    detected,
    detectionRate: scores.length === 0 ? 0 : detected / scores.length,
    leftRightSwapped: scores.filter((s) => s.leftRightSwapped).length,
    visible: statsOf(visible),
    occluded: statsOf(occluded),
    meanOks: oksN === 0 ? null : oksSum / oksN,
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
      if (joint.v === 2) addJoint(visible, joint, score.boxSize);
      else if (joint.v === 1) addJoint(occluded, joint, score.boxSize);
    }
    out[names[i]!] = { visible: statsOf(visible), occluded: statsOf(occluded) };
  });
  return out;
}

function groundTruthOf(annotation: Annotations["annotations"][number]): GroundTruth {
  const flat = annotation.keypoints_mediapipe;
  const landmarks: GroundTruth["landmarks"] = [];
  for (let i = 0; i < 33; i++) landmarks.push([flat[i * 3]!, flat[i * 3 + 1]!, flat[i * 3 + 2]!]);
  const [, , w, h] = annotation.bbox;
  return { landmarks, area: w * h };
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

export interface EvaluateOptions {
  /** Write evaluation.json (default true). */
  write?: boolean;
}

/** Reads annotations and detections of a run folder, scores them, writes evaluation.json. */
export async function evaluateRun(
  runDir: string,
  options: EvaluateOptions = {},
): Promise<Evaluation> {
  const warnings: string[] = [];
  const all: ImageScore[] = [];
  const byCharacter = new Map<string, ImageScore[]>();
  const byView = new Map<string, ImageScore[]>();
  const images: ImageRecord[] = [];
  const detectors = new Set<string>();
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
    for (const image of annotations.images) {
      const annotation = byImage.get(image.id);
      if (!annotation) continue;
      const imagePath = posix.join(rendersDir(character), image.file_name);
      const detectionPath = detectionPathOf(imagePath);
      let detection: Detection | undefined;
      try {
        const parsed = detectionSchema.safeParse(await readJson(join(runDir, detectionPath)));
        if (parsed.success) {
          detection = parsed.data;
          detectors.add(
            `${detection.backend} ${detection.model.name} (${detection.model.version})`,
          );
        } else warnings.push(`${detectionPath}: not a valid detection file, counted as a miss`);
      } catch {
        // No file: the detector did not run on this image; scored as a miss.
      }
      const gt = groundTruthOf(annotation);
      const score = scoreImage(gt, detection);
      all.push(score);
      for (const [map, key] of [
        [byCharacter, character],
        [byView, image.view],
      ] as const) {
        const list = map.get(key) ?? [];
        list.push(score);
        map.set(key, list);
      }
      const own = summarize([score]);
      images.push({
        character,
        clip: image.clip,
        view: image.view,
        frame: image.frame,
        image: imagePath,
        detection: detectionPath,
        found: score.found,
        leftRightSwapped: score.leftRightSwapped,
        boxSize: score.boxSize,
        oks: score.oks ?? null,
        visible: own.visible,
        occluded: own.occluded,
      });
    }
  }
  if (all.length === 0) {
    throw new UserError(
      `Nothing to evaluate in ${runDir}: no renders/<character>/annotations.json with images. Render with outputs.keypoints: true`,
    );
  }
  const evaluation: Evaluation = {
    version: 1,
    createdAt: new Date().toISOString(),
    thresholds: [...PCK_THRESHOLDS],
    definitions: EVALUATION_DEFINITIONS,
    overall: summarize(all),
    perCharacter: Object.fromEntries([...byCharacter].map(([k, v]) => [k, summarize(v)])),
    perView: Object.fromEntries(
      [...byView].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, summarize(v)]),
    ),
    perJoint: summarizeJoints(all, COCO_TO_MEDIAPIPE, COCO_KEYPOINTS),
    perLandmark: summarizeJoints(
      all,
      MEDIAPIPE_LANDMARKS.map((_, i) => i),
      MEDIAPIPE_LANDMARKS,
    ),
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
    "OKS",
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
    s.meanOks === null ? "  -" : s.meanOks.toFixed(3),
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
