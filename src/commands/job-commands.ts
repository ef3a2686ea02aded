/** Shared by logs, status and stop: the run id and the target's JobRunner. */
import type { Context } from "../context.js";
import { createJobRunner } from "../jobs/index.js";
import type { JobRunner } from "../jobs/types.js";
import { parseRunId } from "../run/id.js";

export async function jobOf(
  ctx: Context,
  runId: unknown,
): Promise<{ runId: string; dir: string; runner: JobRunner }> {
  const id = parseRunId(runId);
  const runner = createJobRunner(ctx.resolved.target, await ctx.executor());
  return { runId: id, dir: runner.runDir(id), runner };
}
