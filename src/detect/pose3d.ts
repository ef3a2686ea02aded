/**
 * 3D pose error of MediaPipe's world landmarks against the rig's joints.
 *
 * MediaPipe's `worldLandmarks` are metres in a camera-aligned frame (x right, y down, z away
 * from the camera) with the origin between the hips. The ground truth (`keypoints_3d`, Blender
 * world metres) is brought into the image's camera frame (OpenCV: x right, y down, z forward,
 * X_cam = R X + t), then both are hip-centred (origin = midpoint of left_hip and right_hip).
 *
 *  - MPJPE: mean Euclidean distance over the joints, in millimetres, after hip-centring.
 *  - PA-MPJPE: the same after the similarity transform (scale, rotation, translation) that best
 *    maps the prediction onto the ground truth in the least-squares sense (Procrustes with scale;
 *    the rotation from Horn's quaternion method, so it is always a proper rotation).
 */

export type Vec3 = [number, number, number];
type Mat3 = [Vec3, Vec3, Vec3];

const LEFT_HIP = 23;
const RIGHT_HIP = 24;

/** World point -> camera frame (OpenCV), X_cam = R X + t. */
export function toCamera(point: Vec3, R: Mat3, t: Vec3): Vec3 {
  return [0, 1, 2].map(
    (i) => R[i]![0] * point[0] + R[i]![1] * point[1] + R[i]![2] * point[2] + t[i]!,
  ) as Vec3;
}

/** Subtract the hips' midpoint (MediaPipe indices 23, 24) from every point. */
export function hipCentred(points: Vec3[]): Vec3[] {
  const l = points[LEFT_HIP]!;
  const r = points[RIGHT_HIP]!;
  const c: Vec3 = [(l[0] + r[0]) / 2, (l[1] + r[1]) / 2, (l[2] + r[2]) / 2];
  return points.map((p) => [p[0] - c[0], p[1] - c[1], p[2] - c[2]]);
}

function distance(a: Vec3, b: Vec3): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}

/** Mean per-joint position error (same units as the input) over `indices`. */
export function mpjpe(predicted: Vec3[], truth: Vec3[], indices: readonly number[]): number {
  let sum = 0;
  for (const i of indices) sum += distance(predicted[i]!, truth[i]!);
  return sum / indices.length;
}

/** Eigen decomposition of a symmetric 4x4 matrix (cyclic Jacobi); returns the top eigenvector. */
function topEigenvector(m: number[][]): number[] {
  const a = m.map((row) => [...row]);
  const v: number[][] = [0, 1, 2, 3].map((i) => [0, 1, 2, 3].map((j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < 4; p++) for (let q = p + 1; q < 4; q++) off += a[p]![q]! ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < 4; p++) {
      for (let q = p + 1; q < 4; q++) {
        const apq = a[p]![q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q]![q]! - a[p]![p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < 4; k++) {
          const akp = a[k]![p]!;
          const akq = a[k]![q]!;
          a[k]![p] = c * akp - s * akq;
          a[k]![q] = s * akp + c * akq;
        }
        for (let k = 0; k < 4; k++) {
          const apk = a[p]![k]!;
          const aqk = a[q]![k]!;
          a[p]![k] = c * apk - s * aqk;
          a[q]![k] = s * apk + c * aqk;
        }
        for (let k = 0; k < 4; k++) {
          const vkp = v[k]![p]!;
          const vkq = v[k]![q]!;
          v[k]![p] = c * vkp - s * vkq;
          v[k]![q] = s * vkp + c * vkq;
        }
      }
    }
  }
  let best = 0;
  for (let i = 1; i < 4; i++) if (a[i]![i]! > a[best]![best]!) best = i;
  return [0, 1, 2, 3].map((k) => v[k]![best]!);
}

/** The prediction mapped onto the truth by the least-squares similarity transform. */
export function procrustesAlign(predicted: Vec3[], truth: Vec3[]): Vec3[] {
  const n = predicted.length;
  const mean = (points: Vec3[]) =>
    [0, 1, 2].map((k) => points.reduce((s, p) => s + p[k]!, 0) / n) as Vec3;
  const mp = mean(predicted);
  const mt = mean(truth);
  const x = predicted.map((p) => [p[0] - mp[0], p[1] - mp[1], p[2] - mp[2]] as Vec3);
  const y = truth.map((p) => [p[0] - mt[0], p[1] - mt[1], p[2] - mt[2]] as Vec3);
  // Horn (1987): S = sum x y^T; the rotation is the top eigenvector of N(S) as a quaternion.
  const S = [0, 1, 2].map((i) =>
    [0, 1, 2].map((j) => x.reduce((s, p, k) => s + p[i]! * y[k]![j]!, 0)),
  );
  const [[sxx, sxy, sxz], [syx, syy, syz], [szx, szy, szz]] = S as [Vec3, Vec3, Vec3];
  const N = [
    [sxx + syy + szz, syz - szy, szx - sxz, sxy - syx],
    [syz - szy, sxx - syy - szz, sxy + syx, szx + sxz],
    [szx - sxz, sxy + syx, -sxx + syy - szz, syz + szy],
    [sxy - syx, szx + sxz, syz + szy, -sxx - syy + szz],
  ];
  const [w, qx, qy, qz] = topEigenvector(N) as [number, number, number, number];
  const R: Mat3 = [
    [w * w + qx * qx - qy * qy - qz * qz, 2 * (qx * qy - w * qz), 2 * (qx * qz + w * qy)],
    [2 * (qx * qy + w * qz), w * w - qx * qx + qy * qy - qz * qz, 2 * (qy * qz - w * qx)],
    [2 * (qx * qz - w * qy), 2 * (qy * qz + w * qx), w * w - qx * qx - qy * qy + qz * qz],
  ];
  const rotated = x.map((p) => toCamera(p, R, [0, 0, 0]));
  const xx = x.reduce((s, p) => s + p[0] ** 2 + p[1] ** 2 + p[2] ** 2, 0);
  const xy = rotated.reduce(
    (s, p, k) => s + p[0] * y[k]![0] + p[1] * y[k]![1] + p[2] * y[k]![2],
    0,
  );
  const scale = xx > 0 ? xy / xx : 1;
  return rotated.map((p) => [scale * p[0] + mt[0], scale * p[1] + mt[1], scale * p[2] + mt[2]]);
}

/** MPJPE and PA-MPJPE in millimetres of one image, over the MediaPipe `indices`. */
export function poseErrorsMm(
  predicted: Vec3[],
  truthWorld: Vec3[],
  camera: { R: Mat3; t: Vec3 },
  indices: readonly number[],
): { mpjpeMm: number; paMpjpeMm: number } {
  const truth = hipCentred(truthWorld.map((p) => toCamera(p, camera.R, camera.t)));
  const pred = hipCentred(predicted);
  const subset = (points: Vec3[]) => indices.map((i) => points[i]!);
  const aligned = procrustesAlign(subset(pred), subset(truth));
  const all = indices.map((_, k) => k);
  return {
    mpjpeMm: 1000 * mpjpe(pred, truth, indices),
    paMpjpeMm: 1000 * mpjpe(aligned, subset(truth), all),
  };
}
