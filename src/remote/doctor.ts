/**
 * The remote half of `doctor`: can we reach the target, is its host key the one we know,
 * and which Blender, rclone, Python, MediaPipe and GPU does it have. Version parsing reuses
 * the functions of blender/setup_pod.sh, so doctor and setup-pod agree on what they see.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { TargetConfig } from "../config/schema.js";
import { quoteShell } from "./shell.js";
import type { Executor } from "./types.js";

export interface RemoteCheck {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

export const SETUP_POD_SCRIPT = fileURLToPath(
  new URL("../../blender/setup_pod.sh", import.meta.url),
);

export function readSetupPodScript(): string {
  return readFileSync(SETUP_POD_SCRIPT, "utf8");
}

/** Parse `key: value` lines of the probe script (several `gpu:` lines are kept in order). */
export function parseProbeOutput(text: string): Map<string, string[]> {
  const values = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const match = /^([a-z_]+): ?(.*)$/.exec(line.trim());
    if (!match) continue;
    const list = values.get(match[1]!) ?? [];
    list.push(match[2]!.trim());
    values.set(match[1]!, list);
  }
  return values;
}

/** The script doctor runs on the host: the target's own blender and python commands. */
export function buildProbeScript(target: TargetConfig): string {
  const blender = quoteShell(target.blender);
  const python = quoteShell(target.python);
  return `PF_SETUP_LIB_ONLY=1
${readSetupPodScript()}
set +eu
echo "blender: $(${blender} --version 2>/dev/null | pf_parse_blender_version)"
echo "rclone: $(pf_rclone_version)"
echo "python: $(${python} --version 2>&1 | pf_parse_python_version)"
echo "mediapipe: $(${python} -c 'import mediapipe; print(mediapipe.__version__)' 2>/dev/null | head -n 1)"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | pf_parse_gpus | sed 's/^/gpu: /'
fi
echo "disk: $(df -Pk . 2>/dev/null | awk 'NR==2 { printf "%.1f GB free", $4 / 1048576 }')"
`;
}

export interface RemoteCheckOptions {
  /** Connects (or returns the open executor); may throw. */
  connect: () => Promise<Executor & { hostKeyFingerprint?: string }>;
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
  let out = "";
  const result = await executor.run(buildProbeScript(target), {
    signal: options.signal,
    onStdout: (chunk) => {
      out += chunk;
    },
  });
  if (result.exitCode !== 0) {
    checks.push({
      name: "host tools",
      ok: false,
      detail: `probe failed (exit ${result.exitCode}): ${result.stderrTail}`,
    });
    return checks;
  }
  const values = parseProbeOutput(out);
  const first = (key: string) => values.get(key)?.[0] ?? "";
  const setup = "posefactory setup-pod";
  const tool = (name: string, version: string, fix: string, needed = true) =>
    checks.push({
      name: `remote ${name}`,
      ok: version !== "" || !needed,
      detail: version !== "" ? version : "not found",
      fix: version !== "" ? undefined : fix,
    });
  tool("blender", first("blender"), `${setup} (or set blender: in the target)`);
  tool("rclone", first("rclone"), setup);
  tool("python", first("python"), `${setup} (or set python: in the target)`);
  tool("mediapipe", first("mediapipe"), `${setup}, then set python: to its venv python`);
  const gpus = values.get("gpu") ?? [];
  checks.push({
    name: "remote gpu",
    ok: gpus.length > 0,
    detail: gpus.length > 0 ? gpus.join("; ") : "no NVIDIA GPU found (nvidia-smi)",
    fix: gpus.length > 0 ? undefined : "use a GPU pod, or render.device: cpu",
  });
  if (first("disk")) checks.push({ name: "remote disk", ok: true, detail: first("disk") });
  return checks;
}
