/**
 * Every path inside a run folder, in one place. The same layout holds on the render host
 * (`<workdir>/runs/<runId>/`), in storage (`<prefix>runs/<runId>/`) and locally
 * (`<data>/runs/<runId>/`); see DESIGN.md "Storage layout". Paths here are relative to the
 * run folder and use `/`; join them with the folder they live in.
 */
import { join, posix } from "node:path";
import { joinKey } from "../storage/types.js";
import { parseRunId } from "./id.js";

/** Files and folders of a run folder. */
export const RunFiles = {
  /** job.json: what Blender renders (TypeScript -> Blender). */
  job: "job.json",
  /** manifest.json: what Blender rendered (Blender -> TypeScript). */
  manifest: "manifest.json",
  /** run.json: the local record of a pipeline run (local only). */
  record: "run.json",
  /** status.json: the host job's state (host only; see ./status.ts). */
  status: "status.json",
  /** job.log: the host job's output (host only). */
  log: "job.log",
  /** logs/job.log: the render job's log as pushed to storage. */
  pushedLog: "logs/job.log",
  /** sha256sums.txt: the host's checksums of renders/ and detections/. */
  checksums: "sha256sums.txt",
  /** inputs.txt: the files the host job pulls, relative to its inputs folder (host only). */
  inputs: "inputs.txt",
  /** assets/: this run's view of its backgrounds and animations folders (host only). */
  assets: "assets",
  evaluation: "evaluation.json",
  report: "report.html",
  reportDir: "report",
  renders: "renders",
  detections: "detections",
} as const;

/** renders/<character> */
export function rendersDir(character: string): string {
  return posix.join(RunFiles.renders, character);
}

/** detections/<character> */
export function detectionsDir(character: string): string {
  return posix.join(RunFiles.detections, character);
}

/** renders/<character>/annotations.json */
export function annotationsPath(character: string): string {
  return posix.join(RunFiles.renders, character, "annotations.json");
}

/** renders/<c>/<clip>/<view>/f0001.png -> detections/<c>/<clip>/<view>/f0001.json */
export function detectionPathOf(imagePath: string): string {
  return imagePath
    .replace(new RegExp(`^${RunFiles.renders}/`), `${RunFiles.detections}/`)
    .replace(/\.[^./]+$/, ".json");
}

/** `<data>/runs/<runId>`: a run's local folder. */
export function localRunDir(dataDir: string, runId: string): string {
  return join(dataDir, "runs", parseRunId(runId));
}

/** `<data>/runs`: where local runs live. */
export function localRunsDir(dataDir: string): string {
  return join(dataDir, "runs");
}

/** `<workdir>/runs/<runId>`: a run's folder on the render host (always POSIX). */
export function hostRunDir(workdir: string, runId: string): string {
  return posix.join(workdir, "runs", parseRunId(runId));
}

/** `<workdir>/inputs`: the host's cache of uploaded inputs (one folder per InputPart). */
export function hostInputsDir(workdir: string): string {
  return posix.join(workdir, "inputs");
}

/** `<prefix>runs/<runId>[/<parts>]`: a run's keys in storage (no trailing slash). */
export function runKey(prefix: string, runId: string, ...parts: string[]): string {
  return joinKey(prefix, "runs", parseRunId(runId), ...parts);
}

/** `<prefix>runs/`: where every run's keys start. */
export function runsKeyPrefix(prefix: string): string {
  return `${joinKey(prefix, "runs")}/`;
}

/**
 * The folders under `<prefix>inputs/` (and the host's `<workdir>/inputs/`): the characters, the
 * package's blender/, and the config's `scene.backgrounds` and `animations` folders.
 */
export type InputPart = "characters" | "blender" | "backgrounds" | "animations";

/** `<prefix>inputs[/<part>]`, no trailing slash. */
export function inputsKey(prefix: string, part?: InputPart): string {
  return part ? joinKey(prefix, "inputs", part) : joinKey(prefix, "inputs");
}
