/**
 * Run ids: sortable UTC time plus a short random hash, e.g. `20261125-083012-a1b2c3`. A run id
 * is a folder name here and on the host and a segment of storage keys, so every run id that
 * comes from a user (a flag, an argument, a folder listing) passes `parseRunId` first.
 */
import { randomBytes } from "node:crypto";
import { UsageError } from "../errors.js";

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function createRunId(
  now: Date = new Date(),
  random: string = randomBytes(3).toString("hex"),
): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  const date = `${now.getUTCFullYear()}${pad(now.getUTCMonth() + 1)}${pad(now.getUTCDate())}`;
  const time = `${pad(now.getUTCHours())}${pad(now.getUTCMinutes())}${pad(now.getUTCSeconds())}`;
  return `${date}-${time}-${random}`;
}

/** Letters, digits, '.', '_' and '-', starting with a letter or digit, no `..`: a plain name. */
export function isValidRunId(runId: string): boolean {
  return RUN_ID.test(runId) && !runId.includes("..");
}

/** The run id, or a usage error (exit 2) saying what a run id looks like. */
export function parseRunId(value: unknown): string {
  const text = String(value);
  if (!isValidRunId(text)) {
    throw new UsageError(
      `${JSON.stringify(text)} is not a run id: use letters, digits, '.', '_' and '-' (run ids look like 20261125-083012-a1b2c3; see \`posefactory runs\`).`,
    );
  }
  return text;
}
