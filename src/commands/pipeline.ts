import type { Context } from "../context.js";
import type { PipelineResult } from "../pipeline/run.js";
import { flag, text } from "./options.js";
import { defineCommand } from "./types.js";

/** The summary lines, or with --json one object: {runId, status, record}. */
export function printPipelineResult(result: PipelineResult, ctx: Context): number {
  for (const line of result.lines) ctx.output.text(line);
  ctx.output.result({
    runId: result.runId,
    status: result.status,
    ...(result.record ? { record: result.record } : {}),
  });
  return result.exitCode;
}

export const command = defineCommand({
  name: "pipeline",
  description: "upload, render, detect, download and report: the whole run in one command",
  options: {
    force: flag("--force", "render every character again, even when an earlier render is reusable"),
    resume: text(
      "--resume <runId>",
      "continue a failed or interrupted run from its first unfinished step",
    ),
    dryRun: flag(
      "--dry-run",
      "print the plan (keys to upload, the job, the commands); change nothing",
    ),
    detach: flag("--detach", "start the render job and return; finish later with --resume <runId>"),
  },
  async run(_args, options, ctx) {
    // Loaded on use: `posefactory --help` must not pay for the browser, sharp or the SDK.
    const { runPipeline } =
      ctx.resolved.target.executor === "runpod"
        ? await import("../runpod/run.js").then((m) => ({ runPipeline: m.runRunpodPipeline }))
        : await import("../pipeline/run.js");
    const result = await runPipeline(
      {
        force: options.force,
        resume: options.resume,
        dryRun: options.dryRun,
        detach: options.detach,
      },
      ctx,
    );
    return printPipelineResult(result, ctx);
  },
});
