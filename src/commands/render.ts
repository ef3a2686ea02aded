/** `posefactory render`: render every character on the target; exit 1 when any failed. */

import { flag, text } from "./options.js";
import { printPipelineResult } from "./pipeline.js";
import { defineCommand } from "./types.js";

export const command = defineCommand({
  name: "render",
  description: "render every character on the target with Blender (images + ground truth)",
  options: {
    runId: text(
      "--run-id <id>",
      "run id (default: UTC time + random, e.g. 20261125-083012-a1b2c3)",
    ),
    force: flag("--force", "render every character, even when an earlier render is reusable"),
  },
  async run(_args, options, ctx) {
    // Loaded on use: `posefactory --help` must not pay for the browser, sharp or the SDK.
    const { runRender } = await import("../render/run.js");
    const result = await runRender({ runId: options.runId, force: options.force }, ctx);
    return printPipelineResult(result, ctx);
  },
});
