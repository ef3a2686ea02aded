/** Run ids: sortable UTC time plus a short random hash, e.g. `20261125-083012-a1b2c3`. */
import { randomBytes } from "node:crypto";

export function createRunId(
  now: Date = new Date(),
  random: string = randomBytes(3).toString("hex"),
): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  const date = `${now.getUTCFullYear()}${pad(now.getUTCMonth() + 1)}${pad(now.getUTCDate())}`;
  const time = `${pad(now.getUTCHours())}${pad(now.getUTCMinutes())}${pad(now.getUTCSeconds())}`;
  return `${date}-${time}-${random}`;
}

/** A run id the user typed is a folder and a storage key segment: keep it plain. */
export function isValidRunId(runId: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(runId) && !runId.includes("..");
}
