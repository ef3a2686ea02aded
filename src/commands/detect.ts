/** `posefactory detect [runId]`: MediaPipe pose detection on a local run folder (web backend). */
import { flag } from "./options.js";
import { defineCommand } from "./types.js";

export const command = defineCommand({
  name: "detect",
  description: "Detect poses with MediaPipe on a local run's renders (default: the latest run)",
  arguments: ["[runId]"],
  options: { force: flag("--force", "detect again images that already have a detection") },
  async run(args, options, ctx) {
    // Loaded on use: `posefactory --help` must not pay for the browser, sharp or the SDK.
    const { resolveLocalRunDir, runDetect } = await import("../detect/run.js");
    const { runId, runDir } = await resolveLocalRunDir(
      typeof args[0] === "string" ? args[0] : undefined,
      ctx,
    );
    const result = await runDetect(runDir, { force: options.force }, ctx);
    const perImage =
      result.seconds.perImage === null
        ? ""
        : `, ${(result.seconds.perImage * 1000).toFixed(0)} ms an image`;
    ctx.output.text(
      `detected ${result.detected} images of run ${runId} (pose found in ${result.found} of ${result.images}, ${result.skipped} already done) with ${result.model.name} (${result.model.source})${perImage}`,
    );
    for (const other of result.others ?? []) {
      ctx.output.text(
        `  and with ${other.model.name} into ${other.detections}/ (pose found in ${other.found} of ${result.images}, ${other.skipped} already done)`,
      );
    }
    ctx.output.text(`next: posefactory report ${runId}`);
    ctx.output.result({
      runId,
      runDir,
      images: result.images,
      detected: result.detected,
      found: result.found,
      skipped: result.skipped,
      model: {
        name: result.model.name,
        version: result.model.version,
        sha256: result.model.sha256,
        source: result.model.source,
      },
      seconds: result.seconds,
      ...(result.others ? { others: result.others } : {}),
    });
    return 0;
  },
});
