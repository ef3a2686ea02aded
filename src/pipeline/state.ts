/** The pipeline's options, results and the state its steps share. */
import type { Config, TargetConfig } from "../config/schema.js";
import type { Context } from "../context.js";
import type { JobRunner } from "../jobs/types.js";
import type { Executor } from "../remote/types.js";
import type { CharacterFile } from "../render/job.js";
import type { Manifest } from "../run/manifest.js";
import type { PreparedUpload } from "../storage/commands.js";
import type { SyncCache } from "../storage/hash.js";
import type { RunRecord } from "./run-record.js";

export interface PipelineOptions {
  /** Render every character even when an earlier render is reusable. */
  force?: boolean;
  /** Continue this run from its first unfinished step. */
  resume?: string;
  /** Print the plan; change nothing. */
  dryRun?: boolean;
  /** Start the render job and return; `pipeline --resume <runId>` finishes it later. */
  detach?: boolean;
  /** Run only these steps (the single commands: `render` is ["upload", "render"]). */
  steps?: StepId[];
  /** Use this run id for a new run (default: time + random). */
  runId?: string;
}

export type StepId = "upload" | "render" | "download" | "reuse" | "detect" | "report";

export interface PipelineResult {
  runId: string;
  status: RunRecord["status"] | "planned" | "detached";
  record?: RunRecord;
  exitCode: number;
  lines: string[];
}

/** Where detection runs: python on the render host, web (Chromium) here, or not at all. */
export type DetectPlace = "host" | "local" | "none";

export function detectPlace(config: Config, target: TargetConfig): DetectPlace {
  if (!config.detect.enabled) return "none";
  const backend =
    config.detect.backend === "auto"
      ? target.executor === "ssh" || target.executor === "slurm"
        ? "python"
        : "web"
      : config.detect.backend;
  if (backend === "web") return "local";
  return target.executor === "ssh" || target.executor === "slurm" ? "host" : "local";
}

export interface PlannedCharacter extends CharacterFile {
  /** File name inside the characters folder (= the key under inputs/characters/). */
  fileName: string;
  key: string;
  reuseFrom?: string;
}

export interface State {
  ctx: Context;
  config: Config;
  target: TargetConfig;
  runId: string;
  dataDir: string;
  stateDir: string;
  localRunDir: string;
  /** The run's folder on the target's host (where its job runs). */
  hostRunDir: string;
  detect: DetectPlace;
  characters: PlannedCharacter[];
  /**
   * What a host job pulls besides its characters, relative to the inputs folder (blender/...,
   * backgrounds/..., animations/...: the files `upload` sends); empty on the local target.
   */
  inputFiles: string[];
  /** The project's hash cache (`.posefactory/hash-cache.json`), shared with the upload. */
  hashCache: SyncCache;
  /** The upload's plan, made while the host's preflight runs (ssh targets). */
  upload?: Promise<PreparedUpload>;
  record: RunRecord;
  manifest?: Manifest;
  executor(): Promise<Executor>;
  /** The target's JobRunner (over the same executor). */
  runner(): Promise<JobRunner>;
}

export const STEPS: { id: string; title: string }[] = [
  { id: "upload", title: "Upload inputs" },
  { id: "render", title: "Render" },
  { id: "download", title: "Download results" },
  { id: "reuse", title: "Reuse earlier renders" },
  { id: "detect", title: "Detect poses" },
  { id: "report", title: "Evaluate and report" },
];

/** Thrown by the render step under --detach once the job runs: the pipeline returns early. */
export const DETACHED = Symbol("detached");

export function toRenderOf(state: State): PlannedCharacter[] {
  return state.characters.filter((c) => !c.reuseFrom);
}
