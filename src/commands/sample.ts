import { existsSync, mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { resolveUserPath } from "../config/credentials.js";
import { makeSampleCharacter } from "../render/sample.js";
import { flag } from "./options.js";
import { defineCommand } from "./types.js";

export const command = defineCommand({
  name: "sample",
  description:
    "generate the sample character (a walking, waving mannequin) into the characters folder",
  options: {
    force: flag("--force", "regenerate it even when it exists"),
    glb: flag("--glb", "also write a GLB with two animations (Walk, Wave)"),
  },
  needsConfig: false,
  async run(_args, options, ctx) {
    const dir = resolveUserPath(ctx.resolved.config.characters, ctx.resolved.baseDir);
    mkdirSync(dir, { recursive: true });
    const out = resolve(dir, "sample-walker.fbx");
    const glb = options.glb ? resolve(dir, "sample-two-clips.glb") : undefined;
    if (existsSync(out) && !options.force && (!glb || existsSync(glb))) {
      ctx.output.text(`${out} exists (use --force to regenerate)`);
      ctx.output.result({ files: [out], generated: false });
      return 0;
    }
    const local = ctx.resolved.config.targets.local;
    const blender = local?.executor === "local" ? local.blender : "blender";
    ctx.logger.info("making the sample character with Blender...");
    // Always this machine's Blender, whatever the target: the sample goes in the local folder.
    const { localTargetSchema } = await import("../config/schema.js");
    const target = localTargetSchema.parse({ executor: "local", blender });
    const { createExecutor } = await import("../remote/index.js");
    const executor = await createExecutor(target, {
      logger: ctx.logger,
      baseDir: ctx.resolved.baseDir,
      env: ctx.env,
    });
    try {
      await makeSampleCharacter(executor, {
        blender,
        out,
        glbTwoClips: glb,
        logger: ctx.logger,
        signal: ctx.signal,
      });
    } finally {
      await executor.close();
    }
    const files = glb ? [out, glb] : [out];
    ctx.output.text(`Wrote ${files.join(", ")}`);
    ctx.output.result({ files, generated: true });
    return 0;
  },
});
