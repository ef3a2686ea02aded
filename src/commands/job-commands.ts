/** Shared by logs, status and stop: the run id and the target's JobRunner. */
import type { Context } from "../context.js";
import type { JobRunner } from "../jobs/types.js";
import { parseRunId } from "../run/id.js";

export async function jobOf(
  ctx: Context,
  runId: unknown,
): Promise<{ runId: string; dir: string; runner: JobRunner }> {
  const id = parseRunId(runId);
  // Loaded on use: the job runners (and their zod schemas) are not needed by other commands.
  const { createJobRunner } = await import("../jobs/index.js");
  const runner = createJobRunner(ctx.resolved.target, await ctx.executor());
  return { runId: id, dir: runner.runDir(id), runner };
}
