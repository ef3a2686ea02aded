/**
 * status.json: the state of a run's host job, written by blender/host/wrapper.sh (and by
 * stop.sh when KILL left no wrapper to write it). One JSON object on one line, no spaces, so
 * the host scripts can read fields back with sed.
 */
import { z } from "zod";

export const jobStateSchema = z.enum(["running", "done", "failed", "stopped"]);

export const jobStatusFileSchema = z.object({
  state: jobStateSchema,
  exitCode: z.number().int().nullable(),
  startedAt: z.string(),
  endedAt: z.string().nullable(),
  seconds: z.number().nullable(),
  pid: z.number().int(),
  pgid: z.number().int(),
  startedAtMs: z.number().optional(),
  endedAtMs: z.number().nullable().optional(),
});

export type JobState = z.infer<typeof jobStateSchema>;

export interface JobStatus {
  state: JobState;
  exitCode: number | null;
  startedAt: string;
  endedAt: string | null;
  seconds: number | null;
  pid: number;
  pgid: number;
  /** True when status.json said running but no process of the job is left (host rebooted, killed). */
  lost?: boolean;
}

/** The first line of `text` that is a valid status.json, or undefined. */
export function parseJobStatus(text: string): JobStatus | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      continue;
    }
    const parsed = jobStatusFileSchema.safeParse(raw);
    if (!parsed.success) continue;
    const { startedAtMs: _s, endedAtMs: _e, ...status } = parsed.data;
    return status;
  }
  return undefined;
}
