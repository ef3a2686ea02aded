/** `posefactory render`: render every character locally; exit 1 when any character failed. */
import { formatSummary } from "../render/blender.js";
import { runRender } from "../render/run.js";
import type { CommandSpec } from "./types.js";

export const command: CommandSpec = {
  name: "render",
  description:
    "render every character of the characters folder with Blender (images + ground truth)",
  options: [
    {
      flags: "--run-id <id>",
      description: "run id (default: UTC time + random, e.g. 20261125-083012-a1b2c3)",
    },
  ],
  async run(_args, options, ctx) {
    const summary = await runRender({ runId: options.runId as string | undefined }, ctx);
    for (const line of formatSummary(summary)) ctx.output.text(line);
    ctx.output.result(summary);
    return summary.failed > 0 ? 1 : 0;
  },
};
