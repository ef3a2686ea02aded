import { resolveUserPath } from "../config/credentials.js";
import { UsageError } from "../errors.js";
import { formatTable } from "../output.js";
import type { RunRecord } from "../pipeline/run-record.js";
import { parseRunId } from "../run/id.js";
import type { CommandSpec } from "./types.js";

function dataDir(ctx: Parameters<CommandSpec["run"]>[2]): string {
  return resolveUserPath(ctx.resolved.config.data, ctx.resolved.baseDir);
}

function imagesOf(record: RunRecord): number {
  return record.characters.reduce((n, c) => n + c.images, 0);
}

export const list: CommandSpec = {
  name: "runs",
  description: "list local runs (data/runs), newest first",
  async run(_args, _options, ctx) {
    // Loaded on use: run records (and their zod schemas) are not needed by other commands.
    const { listRunRecords } = await import("../pipeline/run-record.js");
    const records = listRunRecords(dataDir(ctx));
    const rows = records.map((r) => [
      r.runId,
      r.status,
      r.target.name,
      `${r.characters.filter((c) => c.status === "ok").length}/${r.characters.length} ok`,
      `${imagesOf(r)} images`,
      r.cost ? `$${r.cost.usd.toFixed(2)}` : "",
      r.pod ? `${r.pod.id} ${r.pod.gpuType}` : "",
    ]);
    ctx.output.text(
      records.length
        ? formatTable([["RUN", "STATUS", "TARGET", "CHARACTERS", "IMAGES", "COST", "POD"], ...rows])
        : "no runs yet: run `posefactory pipeline`",
    );
    ctx.output.result({
      runs: records.map((r) => ({
        runId: r.runId,
        status: r.status,
        target: r.target.name,
        images: imagesOf(r),
        createdAt: r.createdAt,
        ...(r.cost ? { cost: r.cost } : {}),
        ...(r.pod ? { pod: r.pod } : {}),
      })),
    });
    return 0;
  },
};

export const show: CommandSpec = {
  name: "runs show",
  description: "print one run's record (steps, characters, versions, cost)",
  arguments: ["<runId>"],
  async run(args, _options, ctx) {
    const runId = parseRunId(args[0]);
    const { readRunRecord } = await import("../pipeline/run-record.js");
    const record = readRunRecord(dataDir(ctx), runId);
    if (!record)
      throw new UsageError(
        `No local run ${runId} in ${dataDir(ctx)}/runs: see \`posefactory runs list\``,
      );
    const lines = [
      `run ${record.runId}: ${record.status} on ${record.target.name} (${record.target.executor}, ${record.target.storage})`,
      `created ${record.createdAt}; posefactory ${record.versions.posefactory}${record.versions.blender ? `, Blender ${record.versions.blender}` : ""}${record.versions.mediapipe ? `, MediaPipe ${record.versions.mediapipe}` : ""}`,
      "",
      formatTable(
        record.steps.map((s) => [
          s.status,
          s.title,
          s.seconds !== undefined ? `${s.seconds}s` : "",
          s.error ?? s.detail ?? "",
        ]),
      ),
      "",
      formatTable(
        record.characters.map((c) => [
          c.status,
          c.name,
          `${c.images} images`,
          c.reusedFrom ? `reused from ${c.reusedFrom}` : "",
          c.pck10 !== undefined ? `PCK@0.1 ${(c.pck10 * 100).toFixed(1)}%` : "",
          c.error ?? "",
        ]),
      ),
      "",
      `results: ${record.results.dir}${record.results.report ? `\nreport:  ${record.results.report}` : ""}`,
    ];
    if (record.cost)
      lines.push(
        `cost:    $${record.cost.usd.toFixed(2)} (${record.cost.hours.toFixed(2)} h at $${record.cost.costPerHour}/h)`,
      );
    if (record.pod)
      lines.push(
        `pod:     ${record.pod.id} ${record.pod.name} (${record.pod.gpuType}${record.pod.dataCenter ? ` in ${record.pod.dataCenter}` : ""}, $${record.pod.costPerHour.toFixed(2)}/h), ${Math.round(record.pod.seconds)} s, $${record.pod.usd.toFixed(2)}, ${record.pod.end}`,
      );
    ctx.output.text(lines.join("\n"));
    ctx.output.result(record);
    return 0;
  },
};
