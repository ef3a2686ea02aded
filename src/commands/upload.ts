/** `posefactory upload`: sync the characters folder and blender/ scripts to storage. */

import { formatBytes } from "../storage/progress.js";
import { flag, integer } from "./options.js";
import { defineCommand } from "./types.js";

export const command = defineCommand({
  name: "upload",
  description:
    "Upload the characters folder and the Blender scripts to storage (only what changed)",
  options: {
    dryRun: flag("--dry-run", "print what would be uploaded or deleted, change nothing"),
    delete: flag("--delete", "also delete remote files that no longer exist locally"),
    concurrency: integer("--concurrency <n>", "transfers in flight (default: sync.concurrency)", {
      min: 1,
      max: 64,
    }),
  },
  async run(_args, options, ctx) {
    // Loaded on use: `posefactory --help` must not pay for the browser, sharp or the SDK.
    const { runUpload } = await import("../storage/commands.js");
    const result = await runUpload(
      {
        dryRun: options.dryRun,
        delete: options.delete,
        concurrency: options.concurrency,
      },
      ctx,
    );
    const { plan } = result;
    if (result.dryRun) {
      for (const a of plan.uploads)
        ctx.output.text(`upload ${a.key} (${a.reason}, ${formatBytes(a.size)})`);
      for (const d of plan.deletes) ctx.output.text(`delete ${d.key}`);
      ctx.output.text(
        `dry run: would upload ${result.uploaded} files (${formatBytes(result.bytes)}), skip ${result.skipped} unchanged${options.delete ? `, delete ${result.deleted}` : ""}`,
      );
      ctx.output.result({
        dryRun: true,
        uploaded: result.uploaded,
        skipped: result.skipped,
        deleted: result.deleted,
        bytes: result.bytes,
        seconds: result.seconds,
        uploads: plan.uploads.map((a) => a.key),
        deletes: plan.deletes.map((d) => d.key),
      });
      return 0;
    }
    ctx.output.text(
      `uploaded ${result.uploaded} files (${formatBytes(result.bytes)}), skipped ${result.skipped} unchanged${options.delete ? `, deleted ${result.deleted}` : ""} in ${result.seconds.toFixed(1)} s`,
    );
    ctx.output.result({
      uploaded: result.uploaded,
      skipped: result.skipped,
      deleted: result.deleted,
      bytes: result.bytes,
      seconds: result.seconds,
    });
    return 0;
  },
});
