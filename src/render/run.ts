/**
 * `posefactory render`: the pipeline's upload and render steps on their own. On the local
 * target the renders land in <data>/runs/<runId>/ (where `detect` and `report` look); on an
 * ssh target they land in storage, for `download`. `pipeline --resume <runId>` continues.
 */
import type { Context } from "../context.js";
import { type PipelineResult, runPipeline } from "../pipeline/run.js";

export interface RenderOptions {
  runId?: string;
  force?: boolean;
}

export function runRender(options: RenderOptions, ctx: Context): Promise<PipelineResult> {
  return runPipeline(
    { runId: options.runId, force: options.force, steps: ["upload", "render", "reuse"] },
    ctx,
  );
}
