/** `posefactory report [runId]`: (re)build evaluation.json and report.html from local files. */
import type { CommandSpec } from "./types.js";

export const command: CommandSpec = {
  name: "report",
  description:
    "Score detections against ground truth and write evaluation.json and report.html (default: the latest run)",
  arguments: ["[runId]"],
  async run(args, _options, ctx) {
    // Loaded on use: `posefactory --help` must not pay for the browser, sharp or the SDK.
    const { resolveLocalRunDir, runReport } = await import("../detect/run.js");
    const { runId, runDir } = await resolveLocalRunDir(
      typeof args[0] === "string" ? args[0] : undefined,
      ctx,
    );
    const result = await runReport(runDir, {}, ctx);
    ctx.output.text(result.table);
    ctx.output.text(result.reportPath);
    ctx.output.result({
      runId,
      evaluation: result.evaluationPath,
      report: result.reportPath,
      overall: result.overall,
      warnings: result.warnings,
    });
    return 0;
  },
};
