/** Shared by logs, status and stop: the run's folder on the current target. */
import type { Context } from "../context.js";
import { resolveJobDir } from "../remote/jobs.js";

export function jobDirOf(ctx: Context, runId: unknown): { runId: string; dir: string } {
  const id = String(runId);
  return { runId: id, dir: resolveJobDir(ctx.resolved.target, id) };
}
