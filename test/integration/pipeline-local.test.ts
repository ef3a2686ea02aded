/** Ctrl-C during a local pipeline stops Blender too: exit 130, no process left, run.json says so. */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runRecordSchema } from "../../src/pipeline/run-record.js";
import { isGroupAlive } from "../../src/remote/local.js";
import { BLENDER, getSampleCharacters } from "../helpers/blender.js";
import { cleanEnv, makeTempDir, runCli } from "../helpers/cli.js";

describe("posefactory pipeline on the local target", () => {
  const temp = makeTempDir("pf-local-pipeline-");
  afterAll(() => temp.cleanup());

  it("Ctrl-C stops the render job: exit 130, no Blender left, the run recorded as interrupted", async () => {
    mkdirSync(join(temp.dir, "characters"));
    copyFileSync((await getSampleCharacters()).fbx, join(temp.dir, "characters", "walker.fbx"));
    writeFileSync(
      join(temp.dir, "posefactory.yaml"),
      [
        "frames: {step: 1}",
        "render: {device: cpu, samples: 16, resolution: [256, 256]}",
        `targets: {local: {executor: local, blender: ${BLENDER}, workdir: work}}`,
        "",
      ].join("\n"),
    );
    const controller = new AbortController();
    const running = runCli(["pipeline"], {
      cwd: temp.dir,
      env: cleanEnv({}, temp.home),
      signal: controller.signal,
    });
    const runs = join(temp.dir, "work", "runs");
    let status: { state: string; pgid: number } | undefined;
    for (let i = 0; i < 600 && !status; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const run = existsSync(runs) ? readdirSync(runs)[0] : undefined;
      const log = run && join(runs, run, "job.log");
      if (log && existsSync(log) && readFileSync(log, "utf8").includes("render: CYCLES")) {
        status = JSON.parse(readFileSync(join(runs, run!, "status.json"), "utf8"));
      }
    }
    expect(status?.state).toBe("running");
    controller.abort();
    const result = await running;
    expect(result.code).toBe(130);
    expect(isGroupAlive(status!.pgid)).toBe(false);
    const runId = readdirSync(runs)[0]!;
    const record = runRecordSchema.parse(
      JSON.parse(readFileSync(join(temp.dir, "data", "runs", runId, "run.json"), "utf8")),
    );
    expect(record.status).toBe("interrupted");
    expect(record.steps.find((s) => s.id === "render")?.status).toBe("interrupted");
  });
});
