/**
 * `posefactory render` on the local target: every character of the characters folder,
 * rendered by the target's Blender into <workdir>/runs/<runId>/, job.json written there
 * first. (The ssh target renders through the pipeline, which pushes inputs first.)
 */
import { join } from "node:path";
import { resolveUserPath } from "../config/credentials.js";
import type { Context } from "../context.js";
import { UsageError, UserError } from "../errors.js";
import { type RenderSummary, runBlenderJob, summarizeManifest } from "./blender.js";
import { buildJob, listCharacterFiles } from "./job.js";
import { createRunId, isValidRunId } from "./run-id.js";

export interface RenderOptions {
  runId?: string;
  /** Blender's scripts folder on the host; this project's blender/ by default. */
  blenderDir?: string;
}

export async function runRender(options: RenderOptions, ctx: Context): Promise<RenderSummary> {
  const { config, baseDir, target, targetName } = ctx.resolved;
  if (target.executor !== "local") {
    throw new UsageError(
      `\`render\` runs on a local target; \`${targetName}\` is an ssh target: use \`posefactory pipeline --target ${targetName}\`, or --target local`,
    );
  }
  const runId = options.runId ?? createRunId();
  if (!isValidRunId(runId)) {
    throw new UsageError(
      `Run id \`${runId}\` is not valid: use letters, digits, '.', '_' and '-' (e.g. 20261125-083012-a1b2c3)`,
    );
  }
  const charactersDir = resolveUserPath(config.characters, baseDir);
  const characters = await listCharacterFiles(charactersDir);
  if (characters.length === 0) {
    throw new UserError(
      `No character files (.fbx, .glb, .gltf, .blend) in ${charactersDir}: add some, or run \`posefactory sample\``,
    );
  }
  const runDir = join(resolveUserPath(target.workdir, baseDir), "runs", runId);
  const job = buildJob(config, { runId, characters, outDir: runDir });
  const executor = await ctx.executor();
  const jobPath = join(runDir, "job.json");
  await executor.writeFile(jobPath, `${JSON.stringify(job, null, 2)}\n`);
  ctx.logger.info(`rendering ${characters.length} characters into ${runDir}`);
  const manifest = await runBlenderJob(executor, {
    blender: target.blender,
    jobPath,
    runDir,
    blenderDir: options.blenderDir,
    logger: ctx.logger,
    signal: ctx.signal,
  });
  return summarizeManifest(manifest, runDir);
}
