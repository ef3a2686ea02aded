import type { Context } from "../context.js";
import type { PipelineResult } from "../pipeline/run.js";
import type { CommandSpec } from "./types.js";

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

export const command: CommandSpec = {
  name: "pipeline",
  description: "upload, render, detect, download and report: the whole run in one command",
  options: [
    {
      flags: "--force",
      description: "render every character again, even when an earlier render is reusable",
    },
    {
      flags: "--resume <runId>",
      description: "continue a failed or interrupted run from its first unfinished step",
    },
    {
      flags: "--dry-run",
      description: "print the plan (keys to upload, the job, the commands); change nothing",
    },
    {
      flags: "--detach",
      description: "start the render job and return; finish later with --resume <runId>",
    },
  ],
  async run(_args, options, ctx) {
    // Loaded on use: `posefactory --help` must not pay for the browser, sharp or the SDK.
    const { runPipeline } = await import("../pipeline/run.js");
    const result = await runPipeline(
      {
        force: options.force === true,
        resume: options.resume as string | undefined,
        dryRun: options.dryRun === true,
        detach: options.detach === true,
      },
      ctx,
    );
    return printPipelineResult(result, ctx);
  },
};
