/** The summary printed when a pipeline run ends. */
import { formatTable } from "../output.js";
import type { RunRecord } from "./run-record.js";

const percent = (x: number | undefined) => (x === undefined ? "-" : `${(x * 100).toFixed(1)}%`);

export function formatPipelineSummary(record: RunRecord): string[] {
  const characters = formatTable([
    ["", "CHARACTER", "IMAGES", "DETECTED", "PCK@0.1", ""],
    ...record.characters.map((c) => [
      c.status === "ok" ? "ok" : "FAILED",
      c.displayName ?? c.name,
      String(c.images),
      percent(c.detectionRate),
      percent(c.pck10),
      c.error?.split("\n")[0] ?? (c.reusedFrom ? `reused from ${c.reusedFrom}` : ""),
    ]),
  ]);
  const steps = record.steps
    .map((s) => `${s.title} ${s.status === "done" ? `${s.seconds}s` : s.status}`)
    .join(", ");
  // A long error (an unknown rig prints its bones and a rigs: block to paste) goes below the table.
  const details = record.characters
    .filter((c) => c.error?.includes("\n"))
    .map((c) => `${c.name}: ${c.error}`);
  const failure = record.hostFailure;
  const lines = [
    `run ${record.runId}: ${record.status}`,
    ...(failure
      ? [
          `pose detection failed on the host (exit ${failure.exitCode}): the renders and annotations are delivered, detections are missing`,
          `  fix: ${failure.fix}`,
        ]
      : []),
    characters,
    ...details,
    `${record.counts.imagesRendered} images rendered, ${record.counts.imagesReused} reused; ${record.counts.uploaded} files uploaded`,
    `steps: ${steps}`,
  ];
  if (record.cost)
    lines.push(
      `cost: $${record.cost.usd.toFixed(2)} (${(record.cost.hours * 60).toFixed(1)} min at $${record.cost.costPerHour}/h)`,
    );
  if (record.pod)
    lines.push(
      `pod: ${record.pod.id} (${record.pod.gpuType}${record.pod.dataCenter ? ` in ${record.pod.dataCenter}` : ""}, $${record.pod.costPerHour.toFixed(2)}/h), ${Math.round(record.pod.seconds)} s, $${record.pod.usd.toFixed(2)}; ${record.pod.end}`,
    );
  lines.push(`results: ${record.results.dir}`);
  if (record.results.report) lines.push(`report:  ${record.results.report}`);
  return lines;
}
