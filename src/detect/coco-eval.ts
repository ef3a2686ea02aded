/**
 * COCO keypoint AP/AR exactly as pycocotools' COCOeval (iouType "keypoints") computes them, so
 * our numbers can be set against anyone's: the same OKS, the same greedy matching per OKS
 * threshold (0.50:0.05:0.95), the same 101-point interpolated precision, maxDets 20, area range
 * "all". A test runs COCOeval on our export and detections and compares to 3 decimals.
 *
 * OKS of a detection d against a ground truth g (COCO): mean over g's labelled keypoints
 * (v > 0) of exp(-e), e = dist^2 / (2 * area * (2 sigma)^2), with `area` the ground truth's
 * SEGMENT area (the mask's pixel count, as COCO's `area`; a box is about twice as lenient).
 * Ground truths with no labelled keypoint are ignored (they neither count nor penalize).
 */
import { COCO_SIGMAS } from "./landmarks.js";

export interface CocoGroundTruth {
  /** 17 x [x, y, v] in COCO order. */
  keypoints: [number, number, number][];
  /** Segment area in pixels (COCO `area`). */
  area: number;
}

export interface CocoDetection {
  /** 17 x [x, y] in COCO order. */
  keypoints: [number, number][];
  score: number;
}

/** One image: its ground truths (ours: one person) and the detector's poses. */
export interface CocoImageEval {
  gts: CocoGroundTruth[];
  dts: CocoDetection[];
}

export interface CocoKeypointMetrics {
  AP: number;
  AP50: number;
  AP75: number;
  AR: number;
}

const OKS_THRESHOLDS = Array.from({ length: 10 }, (_, i) => 0.5 + 0.05 * i);
const RECALL_THRESHOLDS = Array.from({ length: 101 }, (_, i) => i / 100);
const MAX_DETS = 20;
const EPS = 2.220446049250313e-16; // numpy's np.spacing(1), as COCOeval adds it

/** COCO's OKS; undefined when the ground truth has no labelled keypoint. */
export function cocoOks(gt: CocoGroundTruth, dt: CocoDetection): number | undefined {
  let sum = 0;
  let n = 0;
  gt.keypoints.forEach(([x, y, v], i) => {
    if (v <= 0) return;
    n++;
    const d = dt.keypoints[i];
    if (!d) return;
    const variance = (2 * COCO_SIGMAS[i]!) ** 2;
    const e = ((d[0] - x) ** 2 + (d[1] - y) ** 2) / variance / (gt.area + EPS) / 2;
    sum += Math.exp(-e);
  });
  return n === 0 ? undefined : sum / n;
}

interface Matched {
  score: number;
  /** Per threshold: matched to a ground truth. */
  matched: boolean[];
  ignored: boolean[];
}

function evaluateImage(image: CocoImageEval): { dts: Matched[]; gtCount: number } {
  const gts = image.gts.map((g) => ({ g, ignore: g.keypoints.every(([, , v]) => v <= 0) }));
  // COCOeval: ground truths not ignored first (stable), detections by score (stable), top 20.
  const order = [...gts.filter((g) => !g.ignore), ...gts.filter((g) => g.ignore)];
  const dts = image.dts
    .map((d, i) => ({ d, i }))
    .sort((a, b) => b.d.score - a.d.score || a.i - b.i)
    .slice(0, MAX_DETS)
    .map(({ d }) => d);
  const oks = dts.map((d) => order.map(({ g }) => cocoOks(g, d) ?? 0));
  const result: Matched[] = dts.map((d) => ({ score: d.score, matched: [], ignored: [] }));
  OKS_THRESHOLDS.forEach((threshold) => {
    const taken = order.map(() => false);
    dts.forEach((_, di) => {
      let best = Math.min(threshold, 1 - 1e-10);
      let m = -1;
      for (let gi = 0; gi < order.length; gi++) {
        if (taken[gi]) continue;
        // Once matched to a real ground truth, ignored ones (sorted last) are not considered.
        if (m > -1 && !order[m]!.ignore && order[gi]!.ignore) break;
        if (oks[di]![gi]! < best) continue;
        best = oks[di]![gi]!;
        m = gi;
      }
      const entry = result[di]!;
      if (m === -1) {
        entry.matched.push(false);
        entry.ignored.push(false); // area range "all": an unmatched detection is never ignored
        return;
      }
      taken[m] = true;
      entry.matched.push(true);
      entry.ignored.push(order[m]!.ignore);
    });
  });
  return { dts: result, gtCount: gts.filter((g) => !g.ignore).length };
}

/** AP (mean over thresholds and recall points), AP50, AP75, AR over a set of images. */
export function cocoKeypointMetrics(images: CocoImageEval[]): CocoKeypointMetrics | null {
  const perImage = images.map(evaluateImage);
  const gtCount = perImage.reduce((sum, r) => sum + r.gtCount, 0);
  if (gtCount === 0) return null;
  // Concatenated in image order, then a stable sort by score (COCOeval's mergesort).
  const dts = perImage
    .flatMap((r) => r.dts)
    .map((d, i) => ({ d, i }))
    .sort((a, b) => b.d.score - a.d.score || a.i - b.i)
    .map(({ d }) => d);
  const precisions: number[][] = [];
  const recalls: number[] = [];
  OKS_THRESHOLDS.forEach((_, t) => {
    let tp = 0;
    let fp = 0;
    const rc: number[] = [];
    const pr: number[] = [];
    for (const d of dts) {
      if (d.ignored[t]) continue;
      if (d.matched[t]) tp++;
      else fp++;
      rc.push(tp / gtCount);
      pr.push(tp / (fp + tp + EPS));
    }
    recalls.push(rc.length > 0 ? rc[rc.length - 1]! : 0);
    for (let i = pr.length - 1; i > 0; i--) if (pr[i]! > pr[i - 1]!) pr[i - 1] = pr[i]!;
    precisions.push(
      RECALL_THRESHOLDS.map((r) => {
        // numpy searchsorted(rc, r, side="left"): first index with rc[i] >= r.
        let lo = 0;
        let hi = rc.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (rc[mid]! < r) lo = mid + 1;
          else hi = mid;
        }
        return lo < pr.length ? pr[lo]! : 0;
      }),
    );
  });
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  return {
    AP: mean(precisions.flat()),
    AP50: mean(precisions[0]!),
    AP75: mean(precisions[5]!),
    AR: mean(recalls),
  };
}
