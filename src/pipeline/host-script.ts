/**
 * The render job a run sends to its host: blender/host/job.sh with its settings. On an ssh
 * target the host pulls its inputs from storage and pushes its results back with rclone
 * (blender/host/rclone.sh), configured only by environment variables that travel inside the
 * script sent on stdin (never a command line, never the host's disk); so the results reach
 * storage even when the laptop is gone. On the local target the job only renders, straight
 * into the run folder.
 */
import { posix } from "node:path";
import type { S3Credentials } from "../config/credentials.js";
import type { Config, S3StorageConfig } from "../config/schema.js";
import { readHostScript } from "../jobs/host-scripts.js";
import type { HostJob } from "../jobs/types.js";
import { buildCommand } from "../remote/shell.js";
import { buildRenderCommand } from "../render/blender.js";
import type { BlenderSetting } from "../render/launcher.js";
import { hostInputsDir, inputsKey, RunFiles, runKey } from "../run/paths.js";

/** Steps of blender/host/job.sh, in the order it runs them. */
export type HostStep = "pull" | "render" | "detect" | "push";

/** Storage settings for blender/host/rclone.sh (secrets included: environment only). */
export function buildStorageEnv(
  storage: S3StorageConfig,
  credentials: S3Credentials,
): Record<string, string> {
  const env: Record<string, string> = {
    PF_S3_BUCKET: storage.bucket,
    PF_S3_REGION: storage.region,
    PF_S3_ACCESS_KEY_ID: credentials.accessKeyId,
    PF_S3_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    PF_S3_FORCE_PATH_STYLE: String(storage.forcePathStyle),
  };
  if (storage.endpoint) env.PF_S3_ENDPOINT = storage.endpoint;
  if (credentials.sessionToken) env.PF_S3_SESSION_TOKEN = credentials.sessionToken;
  return env;
}

export interface DetectOnHost {
  python: string;
  model: Config["detect"]["model"];
  modelPath?: string;
  /** detect.models besides detect.model: each into detections-<model>/ (official files). */
  others: Config["detect"]["model"][];
  delegate: Config["detect"]["delegate"];
  minPoseDetectionConfidence: number;
  minPosePresenceConfidence: number;
}

export interface SshJobOptions {
  storage: S3StorageConfig;
  /** <workdir> on the host; inputs are cached in <workdir>/inputs. */
  workdir: string;
  blender: BlenderSetting;
  runId: string;
  /**
   * The files this job pulls, relative to the host's inputs folder: characters/<file> of the
   * characters it renders, blender/..., backgrounds/..., animations/... (inputs.txt).
   */
  inputFiles: string[];
  /** job.json's text. */
  jobJson: string;
  detect?: DetectOnHost;
  /** Default: everything this job can do (pull, render, detect when asked, push). */
  steps?: HostStep[];
}

/** detect.models without detect.model, once each: the models that go to detections-<model>/. */
export function otherModels(d: Config["detect"]): Config["detect"]["model"][] {
  return [...new Set(d.models ?? [])].filter((m) => m !== d.model);
}

/** What the host's detection needs of the config: the job's python and the detect settings. */
export function detectOnHost(d: Config["detect"], python: string): DetectOnHost {
  return {
    python,
    model: d.model,
    modelPath: d.modelPath,
    others: otherModels(d),
    delegate: d.delegate,
    minPoseDetectionConfidence: d.minPoseDetectionConfidence,
    minPosePresenceConfidence: d.minPosePresenceConfidence,
  };
}

export function buildDetectArgs(workdir: string, d: DetectOnHost): string {
  return buildCommand([
    `${hostInputsDir(workdir)}/blender/detect_pose.py`,
    "--run-dir",
    ".",
    "--model",
    d.model,
    "--delegate",
    d.delegate,
    "--min-pose-detection-confidence",
    String(d.minPoseDetectionConfidence),
    "--min-pose-presence-confidence",
    String(d.minPosePresenceConfidence),
    ...(d.modelPath ? ["--model-path", d.modelPath] : []),
    ...d.others.flatMap((m) => ["--also", m]),
  ]);
}

/**
 * The ssh target's job: pull inputs, render, detect (python backend), checksum, push. The
 * caller adds the storage credentials (buildStorageEnv) to `env`.
 */
export function buildSshJob(options: SshJobOptions): HostJob {
  const inputs = hostInputsDir(options.workdir);
  const steps =
    options.steps ??
    (["pull", "render", ...(options.detect ? ["detect" as const] : []), "push"] as HostStep[]);
  const env: Record<string, string> = {
    PF_STEPS: steps.join(" "),
    PF_INPUTS: inputs,
    PF_INPUTS_KEY: inputsKey(options.storage.prefix),
    PF_RUN_KEY: runKey(options.storage.prefix, options.runId),
    PF_RENDER_COMMAND: buildRenderCommand(options.blender, RunFiles.job, `${inputs}/blender`),
  };
  if (options.detect) {
    env.PF_PYTHON = options.detect.python;
    env.PF_DETECT_ARGS = buildDetectArgs(options.workdir, options.detect);
  }
  return {
    runId: options.runId,
    script: readHostScript("job.sh"),
    files: {
      ".pf-rclone.sh": readHostScript("rclone.sh"),
      [RunFiles.job]: options.jobJson.endsWith("\n") ? options.jobJson : `${options.jobJson}\n`,
      [RunFiles.inputs]: options.inputFiles.map((f) => `${f}\n`).join(""),
    },
    env,
  };
}

/** inputs.txt's lines for these characters (file names inside the characters folder). */
export function characterInputs(fileNames: readonly string[]): string[] {
  return fileNames.map((f) => `characters/${f.split("\\").join("/")}`);
}

/**
 * Where a job on a host finds its backgrounds or animations folder: the assets/ folder of
 * the folder it runs in, which job.sh's pull fills with exactly the run's files.
 */
export function hostAssetsDir(jobDir: string, part: "backgrounds" | "animations"): string {
  return posix.join(jobDir, RunFiles.assets, part);
}

/** buildJob's folders for a job on a host running in `jobDir`: its assets/ (see job.sh). */
export function hostAssetsOf(
  config: Config,
  jobDir: string,
): { backgroundsDir?: string; animationsDir?: string } {
  return {
    ...(config.scene?.backgrounds ? { backgroundsDir: hostAssetsDir(jobDir, "backgrounds") } : {}),
    ...(config.animations ? { animationsDir: hostAssetsDir(jobDir, "animations") } : {}),
  };
}

/** The local target's job: render into the run folder (detection follows in the CLI). */
export function buildLocalJob(options: {
  runId: string;
  blender: BlenderSetting;
  jobPath: string;
  blenderDir?: string;
}): HostJob {
  return {
    runId: options.runId,
    script: readHostScript("job.sh"),
    env: {
      PF_STEPS: "render",
      PF_RENDER_COMMAND: buildRenderCommand(options.blender, options.jobPath, options.blenderDir),
    },
  };
}
