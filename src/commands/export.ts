/** `posefactory export <runId> --format coco|yolo`: a run as a COCO or YOLO-pose dataset. */
import { z } from "zod";
import { choice, integer } from "./options.js";
import { defineCommand, type OptionSpec } from "./types.js";

/** `--val 0.2`: the share of the data in the validation split, 0 up to (not including) 1. */
const share: OptionSpec<number> = {
  flags: "--val <share>",
  description: "share of the data in the validation split (0 = train only)",
  kind: "number",
  expected: "a number from 0 up to below 1",
  defaultValue: "0.2",
  schema: z
    .string()
    .trim()
    .regex(/^\+?(\d+\.?\d*|\.\d+)$/)
    .transform(Number)
    .pipe(z.number().min(0).lt(1)),
  invalid: ["abc", "", "-0.1", "1", "2"],
};

export const command = defineCommand({
  name: "export",
  description:
    "Export a local run as a COCO keypoints (CVAT/Datumaro layout) or YOLO-pose dataset into data/runs/<runId>/export/<format>/",
  arguments: ["<runId>"],
  options: {
    format: choice("--format <format>", "dataset format", ["coco", "yolo"] as const, "coco"),
    split: choice(
      "--split <kind>",
      "what the validation split holds out: whole characters, whole animations, or random images",
      ["character", "animation", "random"] as const,
      "random",
    ),
    val: share,
    seed: integer("--seed <n>", "seed of the split (same seed, same split)", { min: 0 }),
  },
  async run(args, options, ctx) {
    // Loaded on use: `posefactory --help` must not pay for sharp.
    const { resolveLocalRunDir } = await import("../detect/run.js");
    const { runExport } = await import("../export/run.js");
    const { runId, runDir } = await resolveLocalRunDir(String(args[0]), ctx);
    const result = await runExport(runDir, {
      format: options.format,
      split: options.split,
      val: options.val,
      seed: options.seed ?? 0,
    });
    const counts = Object.entries(result.splits)
      .map(([split, s]) => `${split} ${s.images} images (${s.characters.length} characters)`)
      .join(", ");
    ctx.output.text(`exported run ${runId} as ${result.format}: ${counts}`);
    ctx.output.text(result.outDir);
    ctx.output.result({ runId, ...result });
    return 0;
  },
});
