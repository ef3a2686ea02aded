/** Pose models for tests: built offline from @mediapipe/pose (the official files cannot be fetched here). */
import {
  type PoseModelVariant,
  type ResolvedModel,
  resolvePoseModel,
} from "../../src/detect/model.js";
import { createSilentLogger } from "../../src/log.js";

export function buildPoseModel(
  variant: PoseModelVariant,
  cacheDir: string,
): Promise<ResolvedModel> {
  return resolvePoseModel({ variant, download: false, cacheDir, logger: createSilentLogger() });
}
