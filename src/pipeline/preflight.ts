/**
 * Preflight: before anything is uploaded or rendered, one round trip to the target checks what
 * this run needs there (blender/host/preflight.sh): Blender and its version, the Python with
 * mediapipe and the pose model when detection runs on the host (setup-pod's venv is found like
 * the job finds it), an NVIDIA GPU when `render.device: gpu`, rclone, and free disk against an
 * estimate of the run's output. `doctor` shows the same checks.
 */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Config, TargetConfig } from "../config/schema.js";
import { UsageError } from "../errors.js";
import { composeHostScript } from "../jobs/host-scripts.js";
import type { Executor } from "../remote/types.js";
import { isCharacterFile } from "../render/job.js";
import { blenderVersionCommand } from "../render/launcher.js";
import { otherModels } from "./host-script.js";
import { detectPlace } from "./state.js";

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** What to do when not ok. */
  fix?: string;
}

export interface RunNeeds {
  /** Prints "Blender X.Y.Z" on the host. */
  blenderVersionCommand: string;
  /** Detection runs on the host (python backend). */
  detect?: { python: string; model: string; modelPath?: string; others?: string[] };
  gpu: boolean;
  rclone: boolean;
  workdir: string;
  /** Estimated bytes the run writes on the host (0: unknown, not checked). */
  bytes: number;
}

const SETUP = "posefactory setup-pod";
/** The oldest Blender the scripts in blender/ are tested on (Debian 12's). */
const MIN_BLENDER: [number, number] = [3, 4];

/**
 * Bytes a run writes on the host, roughly: the character files, plus for every image its
 * outputs at their raw size (PNG and EXR usually compress below that) and its detection.
 * Clip lengths are unknown before Blender opens the files: 120 frames a clip is assumed.
 */
export function estimateRunBytes(
  config: Config,
  characters: { count: number; inputBytes: number },
): number {
  const [w, h] = config.render.resolution;
  const o = config.outputs;
  const perPixel = (o.rgb ? 4 : 0) + (o.mask ? 1 : 0) + (o.depth ? 4 : 0) + (o.normals ? 12 : 0);
  const frames =
    "list" in config.frames ? config.frames.list.length : Math.ceil(120 / config.frames.step);
  const cameras = config.cameras.azimuthsDeg.length * config.cameras.elevationsDeg.length;
  const clips = Math.max(1, config.clips.length);
  const images = characters.count * clips * frames * cameras;
  return characters.inputBytes + images * (w * h * perPixel + 16 * 1024);
}

export function needsOf(
  config: Config,
  target: TargetConfig,
  characters: { count: number; inputBytes: number },
): RunNeeds {
  const d = config.detect;
  return {
    blenderVersionCommand: blenderVersionCommand(target.blender),
    detect:
      detectPlace(config, target) === "host"
        ? { python: target.python, model: d.model, modelPath: d.modelPath, others: otherModels(d) }
        : undefined,
    gpu: config.render.device === "gpu",
    rclone: target.executor === "ssh",
    workdir: target.workdir,
    bytes: characters.count > 0 ? estimateRunBytes(config, characters) : 0,
  };
}

export function buildPreflightScript(needs: RunNeeds): string {
  return composeHostScript(
    {
      PF_BLENDER_VERSION_COMMAND: needs.blenderVersionCommand,
      PF_DETECT: needs.detect ? 1 : 0,
      PF_PYTHON: needs.detect?.python ?? "python3",
      PF_MODEL: needs.detect?.model ?? "full",
      PF_MODEL_PATH: needs.detect?.modelPath ?? "",
      PF_OTHER_MODELS: (needs.detect?.others ?? []).join(" "),
      PF_GPU: 1,
      PF_RCLONE: needs.rclone ? 1 : 0,
      PF_WORKDIR: needs.workdir,
    },
    "preflight.sh",
  );
}

/** `key: value` lines (several `gpu:` lines kept in order). */
function parseLines(text: string): Map<string, string[]> {
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

function formatBytes(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${Math.ceil(bytes / 1e6)} MB`;
}

function olderThan(version: string, [major, minor]: [number, number]): boolean {
  const [a = 0, b = 0] = version.split(".").map(Number);
  return a < major || (a === major && b < minor);
}

/** The checks, from the preflight script's output. */
export function evaluatePreflight(out: string, needs: RunNeeds): Check[] {
  const values = parseLines(out);
  const first = (key: string) => values.get(key)?.[0] ?? "";
  const checks: Check[] = [];
  const blender = first("blender");
  checks.push(
    blender === ""
      ? {
          name: "remote blender",
          ok: false,
          detail: `not found (${needs.blenderVersionCommand} printed no version)`,
          fix: `${SETUP} (or set blender: in the target)`,
        }
      : olderThan(blender, MIN_BLENDER)
        ? {
            name: "remote blender",
            ok: false,
            detail: `Blender ${blender} is older than ${MIN_BLENDER.join(".")}`,
            fix: `${SETUP} (installs a tested Blender), or set blender: to a newer one`,
          }
        : { name: "remote blender", ok: true, detail: `Blender ${blender}` },
  );
  if (needs.rclone) {
    const rclone = first("rclone");
    checks.push({
      name: "remote rclone",
      ok: rclone !== "",
      detail: rclone || "not found",
      fix: rclone ? undefined : SETUP,
    });
  }
  if (needs.detect) {
    const python = first("python");
    const version = first("python_version");
    checks.push({
      name: "remote python",
      ok: version !== "",
      detail: version ? `Python ${version} (${python})` : `not found (${python})`,
      fix: version ? undefined : `${SETUP} (or set python: in the target)`,
    });
    const mediapipe = first("mediapipe");
    checks.push({
      name: "remote mediapipe",
      ok: mediapipe !== "",
      detail: mediapipe
        ? `${mediapipe} (${python})`
        : `not found: ${python} cannot import mediapipe`,
      fix: mediapipe
        ? undefined
        : `${SETUP} (it makes the venv the job uses), or set python: to a python with mediapipe, or detect.backend: web`,
    });
    // detect.model and every further model of detect.models: one check, every file named.
    const found = values.get("model") ?? [];
    const missing = values.get("model_missing") ?? [];
    checks.push({
      name: "remote model",
      ok: found.length > 0 && missing.length === 0,
      detail:
        missing.length > 0 || found.length === 0
          ? `not found: ${missing.join(", ")}${found.length > 0 ? ` (found: ${found.join(", ")})` : ""}`
          : found.join(", "),
      fix:
        missing.length > 0 || found.length === 0
          ? `${SETUP} (installs the pose models), or set detect.modelPath to a .task file on the host${(needs.detect.others ?? []).length > 0 ? "; detect.models needs the official files of the others" : ""}`
          : undefined,
    });
  }
  const gpus = values.get("gpu") ?? [];
  checks.push(
    gpus.length > 0
      ? { name: "remote gpu", ok: true, detail: gpus.join("; ") }
      : {
          name: "remote gpu",
          ok: !needs.gpu,
          detail: `no NVIDIA GPU found (nvidia-smi)${needs.gpu ? "" : "; render.device is not gpu: renders on the CPU"}`,
          fix: needs.gpu ? "use a GPU pod, or render.device: auto (or cpu)" : undefined,
        },
  );
  const freeMb = Number(first("disk_free_mb"));
  if (first("disk_free_mb") !== "" && Number.isFinite(freeMb)) {
    const free = freeMb * 1024 * 1024;
    const enough = needs.bytes === 0 || free >= needs.bytes;
    checks.push({
      name: "remote disk",
      ok: enough,
      detail: `${formatBytes(free)} free in ${first("disk_dir")}${needs.bytes ? `; this run needs about ${formatBytes(needs.bytes)}` : ""}`,
      fix: enough
        ? undefined
        : "free space on the host (old runs: <workdir>/runs), or render fewer frames, cameras or pixels",
    });
  }
  return checks;
}

/** How many character files (and bytes) a folder has; nothing when it does not exist. */
export async function characterInputs(dir: string): Promise<{ count: number; inputBytes: number }> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  let count = 0;
  let inputBytes = 0;
  for (const entry of entries) {
    if (!entry.isFile() || !isCharacterFile(entry.name)) continue;
    count++;
    inputBytes += (await stat(join(dir, entry.name))).size;
  }
  return { count, inputBytes };
}

/** The check names POSEFACTORY_PREFLIGHT_SKIP leaves out (e.g. `mediapipe,model`). */
export function preflightSkips(env: NodeJS.ProcessEnv): string[] {
  return (env.POSEFACTORY_PREFLIGHT_SKIP ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

export interface PreflightOptions {
  signal?: AbortSignal;
  env?: Record<string, string>;
  /**
   * A run follows (the pipeline's job): check in the shell that run gets (Executor.runAhead),
   * so the host logs in once for both.
   */
  runFollows?: boolean;
}

/** Run the preflight script on the target: the checks, in one round trip. */
export async function runPreflight(
  executor: Executor,
  needs: RunNeeds,
  options: PreflightOptions = {},
): Promise<Check[]> {
  let out = "";
  const run =
    options.runFollows && executor.runAhead
      ? executor.runAhead.bind(executor)
      : executor.run.bind(executor);
  const result = await run(buildPreflightScript(needs), {
    signal: options.signal,
    env: options.env,
    onStdout: (chunk) => {
      out += chunk;
    },
  });
  if (result.exitCode !== 0) {
    return [
      {
        name: "host tools",
        ok: false,
        detail: `preflight failed (exit ${result.exitCode}): ${result.stderrTail}`,
      },
    ];
  }
  return evaluatePreflight(out, needs);
}

/**
 * Refuse the run (exit 2) when a check failed, naming each missing part and its fix.
 * `skip` (POSEFACTORY_PREFLIGHT_SKIP, comma-separated names such as `mediapipe,model`) leaves
 * checks out on purpose, for hosts where a stand-in does that part (tests).
 */
export function assertPreflight(checks: Check[], where: string, skip: string[] = []): void {
  const failed = checks.filter((c) => !c.ok && !skip.some((s) => c.name === `remote ${s}`));
  if (failed.length === 0) return;
  const lines = failed.map((c) => `  ${c.name}: ${c.detail}${c.fix ? `\n    fix: ${c.fix}` : ""}`);
  throw new UsageError(
    `${where} is not ready for this run (nothing was uploaded or rendered):\n${lines.join("\n")}`,
  );
}
