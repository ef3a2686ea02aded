/** Run ids from the command line: never a path, always exit 2 naming what a run id looks like. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanEnv, makeTempDir, runCli } from "../helpers/cli.js";

const temp = makeTempDir("pf-run-ids-");
afterAll(() => temp.cleanup());

describe("a run id that is a path", () => {
  it.each(
    [
      ["runs", "show", "../../etc"],
      ["download", "../../etc"],
      ["detect", "../etc"],
      ["report", "a/../../b"],
      ["status", ".."],
      ["logs", "../x"],
      ["stop", "/etc"],
      ["pipeline", "--resume", "../../etc"],
    ].map((argv) => [argv.join(" "), argv] as const),
  )("%s exits 2 before touching the disk", async (_name, argv) => {
    mkdirSync(join(temp.dir, "data", "runs"), { recursive: true });
    // A run.json one level up: a path-joining reader would find it.
    writeFileSync(join(temp.dir, "data", "run.json"), "{}");
    writeFileSync(join(temp.dir, "posefactory.yaml"), "target: local\n");
    const result = await runCli(argv, { cwd: temp.dir, env: cleanEnv({}, temp.home) });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/is not a run id/);
  });
});
