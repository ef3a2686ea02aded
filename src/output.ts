/**
 * The output layer: the only place that writes results to stdout. With --json a command
 * prints exactly one JSON object when it ends; otherwise human text. Secrets are scrubbed.
 */
import type { Output } from "./context.js";
import { scrubSecrets } from "./secrets.js";

export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export function createOutput(io: Io, json: boolean): Output & { printed: () => boolean } {
  let printed = false;
  return {
    text(line: string) {
      if (!json) io.stdout.write(`${scrubSecrets(line)}\n`);
    },
    result(value: unknown) {
      if (!json) return;
      if (printed) throw new Error("a command printed two JSON results");
      printed = true;
      io.stdout.write(`${scrubSecrets(JSON.stringify(value))}\n`);
    },
    printed: () => printed,
  };
}

/** Plain, aligned columns for terminal tables. */
export function formatTable(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
  }
  return rows
    .map((row) =>
      row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  "),
    )
    .join("\n");
}
