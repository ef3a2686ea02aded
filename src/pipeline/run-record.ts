/**
 * data/runs/<runId>/run.json: what a run did, step by step, so `runs`, `--resume` and a
 * person reading it later all see the same story. Written after every step (atomically).
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { slurmRunSchema } from "../jobs/slurm.js";
import { isValidRunId } from "../run/id.js";
import { localRunDir, localRunsDir, RunFiles } from "../run/paths.js";

export const stepStatus = z.enum([
  "pending",
  "running",
  "done",
  "skipped",
  "failed",
  "interrupted",
]);

export const runRecordSchema = z.object({
  version: z.literal(1),
  runId: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  status: z.enum(["running", "ok", "partial", "failed", "interrupted"]),
  target: z.object({ name: z.string(), executor: z.string(), storage: z.string() }),
  configPath: z.string().nullable(),
  configHash: z.string(),
  blenderHash: z.string(),
  versions: z.object({
    posefactory: z.string(),
    blender: z.string().optional(),
    mediapipe: z.string().optional(),
    device: z.string().optional(),
  }),
  steps: z.array(
    z.object({
      id: z.string(),
      title: z.string(),
      status: stepStatus,
      seconds: z.number().optional(),
      detail: z.string().optional(),
      error: z.string().optional(),
    }),
  ),
  characters: z.array(
    z.object({
      name: z.string(),
      /** As in the file name (name is its folder-safe slug). */
      displayName: z.string().optional(),
      file: z.string(),
      sha256: z.string(),
      renderKey: z.string(),
      status: z.enum(["pending", "ok", "failed"]),
      reusedFrom: z.string().optional(),
      images: z.number().int().default(0),
      error: z.string().optional(),
      detectionRate: z.number().optional(),
      pck10: z.number().optional(),
    }),
  ),
  counts: z.object({
    imagesRendered: z.number().int(),
    imagesReused: z.number().int(),
    uploaded: z.number().int(),
    downloaded: z.number().int(),
  }),
  cost: z.object({ usd: z.number(), hours: z.number(), costPerHour: z.number() }).optional(),
  /**
   * A step after rendering failed on the host (today: detection, exit 21): what was made is
   * delivered, the run is `partial`, and `pipeline --resume` runs only that step again.
   */
  hostFailure: z
    .object({ step: z.enum(["detect"]), exitCode: z.number().int(), fix: z.string() })
    .optional(),
  /** Slurm targets: the array job ids and one entry per shard (units, state, exit code, node, seconds). */
  slurm: slurmRunSchema.optional(),
  /** The RunPod pod the run used (runpod targets). */
  pod: z
    .object({
      id: z.string(),
      name: z.string(),
      gpuType: z.string(),
      dataCenter: z.string().nullable(),
      costPerHour: z.number(),
      /** Seconds of the pod this run accounts for: created -> terminated, or the run's span on a kept pod. */
      seconds: z.number(),
      usd: z.number(),
      lifetime: z.enum(["run", "keep"]),
      /** What happened to the pod when the run ended. */
      end: z.enum(["terminated", "kept", "left-to-watchdog"]),
    })
    .optional(),
  results: z.object({
    dir: z.string(),
    report: z.string().optional(),
    evaluation: z.string().optional(),
  }),
});

export type RunRecord = z.infer<typeof runRecordSchema>;
export type StepRecord = RunRecord["steps"][number];

export function writeRunRecord(dataDir: string, record: RunRecord): void {
  const dir = localRunDir(dataDir, record.runId);
  mkdirSync(dir, { recursive: true });
  record.updatedAt = new Date().toISOString();
  const file = join(dir, RunFiles.record);
  writeFileSync(`${file}.part`, `${JSON.stringify(record, null, 2)}\n`);
  renameSync(`${file}.part`, file);
}

export function readRunRecord(dataDir: string, runId: string): RunRecord | undefined {
  const file = join(localRunDir(dataDir, runId), RunFiles.record);
  if (!existsSync(file)) return undefined;
  return runRecordSchema.parse(JSON.parse(readFileSync(file, "utf8")));
}

/** Local runs, newest first (run ids sort by time). */
export function listRunRecords(dataDir: string): RunRecord[] {
  const root = localRunsDir(dataDir);
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .sort()
    .reverse()
    .filter(isValidRunId)
    .flatMap((id) => {
      try {
        const record = readRunRecord(dataDir, id);
        return record ? [record] : [];
      } catch {
        return [];
      }
    });
}
