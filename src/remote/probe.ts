/** Find a local program and its version, for `doctor` and for the quick start's checks. */
import { execa } from "execa";

export interface ToolProbe {
  found: boolean;
  version?: string;
  error?: string;
}

/** Run `command ...args` and pick the first line matching `pattern` (or the first line). */
export async function probeTool(
  command: string,
  args: string[],
  pattern?: RegExp,
): Promise<ToolProbe> {
  try {
    const result = await execa(command, args, {
      reject: false,
      timeout: 30_000,
      all: true,
      stdin: "ignore",
    });
    if (result.failed && result.exitCode === undefined)
      return { found: false, error: result.shortMessage };
    const text = result.all ?? "";
    const line = text.split("\n").find((l) => (pattern ? pattern.test(l) : l.trim() !== ""));
    const match = pattern && line ? pattern.exec(line) : undefined;
    return { found: true, version: (match?.[1] ?? line ?? "").trim() };
  } catch (error) {
    return { found: false, error: (error as Error).message };
  }
}
