/** `posefactory download [runId]`: sync a run's outputs from storage into data/runs/<runId>/. */

import { formatBytes } from "../storage/progress.js";
import { flag, integer } from "./options.js";
import { defineCommand } from "./types.js";

export const command = defineCommand({
  name: "download",
  description: "Download a run's renders, detections and reports (default: the latest run)",
  arguments: ["[runId]"],
  options: {
    dryRun: flag("--dry-run", "print what would be downloaded, change nothing"),
    concurrency: integer("--concurrency <n>", "transfers in flight (default: sync.concurrency)", {
      min: 1,
      max: 64,
    }),
  },
  async run(args, options, ctx) {
    // Loaded on use: `posefactory --help` must not pay for the browser, sharp or the SDK.
    const { runDownload } = await import("../storage/commands.js");
    const runId = typeof args[0] === "string" ? args[0] : undefined;
    const result = await runDownload(
      runId,
      { dryRun: options.dryRun, concurrency: options.concurrency },
      ctx,
    );
    if (result.dryRun) {
      for (const a of result.plan.downloads)
        ctx.output.text(`download ${a.key} (${a.reason}, ${formatBytes(a.size)})`);
      ctx.output.text(
        `dry run: would download ${result.downloaded} files (${formatBytes(result.bytes)}) of run ${result.runId} into ${result.localDir}, skip ${result.skipped} unchanged`,
      );
      ctx.output.result({
        dryRun: true,
        runId: result.runId,
        downloaded: result.downloaded,
        skipped: result.skipped,
        bytes: result.bytes,
        seconds: result.seconds,
        downloads: result.plan.downloads.map((a) => a.key),
      });
      return 0;
    }
    ctx.output.text(
      `downloaded ${result.downloaded} files (${formatBytes(result.bytes)}) of run ${result.runId} into ${result.localDir}, skipped ${result.skipped} unchanged, in ${result.seconds.toFixed(1)} s${result.verified ? `; ${result.verified} checked against the run's sha256sums.txt` : ""}`,
    );
    ctx.output.result({
      runId: result.runId,
      downloaded: result.downloaded,
      skipped: result.skipped,
      bytes: result.bytes,
      seconds: result.seconds,
      verified: result.verified,
    });
    return 0;
  },
});
