/**
 * The remote half of `doctor`: can we reach the target, is its host key the one we know, and
 * the run's preflight (pipeline/preflight.ts: Blender, rclone, Python + mediapipe + model,
 * GPU, disk), so doctor shows exactly what a run would be refused for.
 */
import { readFileSync } from "node:fs";
import type { TargetConfig } from "../config/schema.js";
import { packagePath } from "../package-root.js";
import { quoteShell } from "./shell.js";
import type { Executor } from "./types.js";

export interface RemoteCheck {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

export const SETUP_POD_SCRIPT = packagePath("blender", "setup_pod.sh");

export const POD_REQUIREMENTS = packagePath("blender", "requirements.txt");

/**
 * setup_pod.sh with the pinned requirements (blender/requirements.txt) it installs, first, and
 * the pose models the config uses besides the full one it always installs (PF_POSE_MODELS).
 */
export function readSetupPodScript(poseModels: readonly string[] = []): string {
  const requirements = readFileSync(POD_REQUIREMENTS, "utf8");
  const others = [...new Set(poseModels)].filter((m) => m !== "full");
  const models = others.length > 0 ? `PF_POSE_MODELS=${quoteShell(others.join(" "))}\n` : "";
  return `PF_REQUIREMENTS=${quoteShell(requirements)}\n${models}${readFileSync(SETUP_POD_SCRIPT, "utf8")}`;
}

/** The pose models a config uses: detect.model and detect.models. */
export function poseModelsOf(detect: { model: string; models?: readonly string[] }): string[] {
  return [...new Set([detect.model, ...(detect.models ?? [])])];
}

export interface RemoteCheckOptions {
  /** Connects (or returns the open executor); may throw. */
  connect: () => Promise<Executor & { hostKeyFingerprint?: string }>;
  /** The run's preflight on the host (pipeline/preflight.ts): the same checks a run makes. */
  preflight: (executor: Executor) => Promise<RemoteCheck[]>;
  signal?: AbortSignal;
}

export async function checkRemote(
  target: TargetConfig,
  options: RemoteCheckOptions,
): Promise<RemoteCheck[]> {
  const checks: RemoteCheck[] = [];
  if (target.executor !== "ssh") return checks;
  let executor: Executor & { hostKeyFingerprint?: string };
  try {
    executor = await options.connect();
  } catch (error) {
    const message = (error as Error).message;
    const hostKey = /host key|fingerprint/i.test(message);
    checks.push({
      name: hostKey ? "host key" : "reachable",
      ok: false,
      detail: message,
      fix: hostKey
        ? "if the pod was rebuilt: posefactory known-hosts forget <host>"
        : "start the pod, check host/port/user/identityFile (or the ~/.ssh/config alias)",
    });
    return checks;
  }
  checks.push({ name: "reachable", ok: true, detail: executor.description });
  checks.push({
    name: "host key",
    ok: true,
    detail: `${executor.hostKeyFingerprint ?? "verified"} (policy ${target.hostKey})`,
  });
  checks.push(...(await options.preflight(executor)));
  return checks;
}
