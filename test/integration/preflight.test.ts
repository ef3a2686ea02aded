/**
 * The preflight on a host set up by `posefactory setup-pod`: the job's python and model are
 * found in setup-pod's prefix without any configuration (target python stays `python3`).
 * The venv and model here are stand-ins laid out as setup_pod.sh lays them out.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { configSchema, sshTargetSchema } from "../../src/config/schema.js";
import { createSilentLogger } from "../../src/log.js";
import { assertPreflight, needsOf, runPreflight } from "../../src/pipeline/preflight.js";
import { createLocalExecutor } from "../../src/remote/local.js";
import { makeTempDir } from "../helpers/cli.js";

const temp = makeTempDir("pf-preflight-");
afterAll(() => temp.cleanup());

const storage = { type: "s3" as const, bucket: "bkt" };

describe("preflight", () => {
  it("finds setup-pod's venv and model without configuration; refuses what is missing", async () => {
    const prefix = join(temp.dir, "tools");
    mkdirSync(join(prefix, "venv", "bin"), { recursive: true });
    mkdirSync(join(prefix, "models"), { recursive: true });
    writeFileSync(
      join(prefix, "venv", "bin", "python"),
      `#!/bin/sh\ncase "$2" in *mediapipe*) echo 1.2.3;; *) echo 3.11.9;; esac\n`,
      { mode: 0o755 },
    );
    writeFileSync(join(prefix, "models", "pose_landmarker_full.task"), "model");
    const target = sshTargetSchema.parse({
      executor: "ssh",
      host: "pod",
      workdir: join(temp.dir, "work", "not", "yet"),
      storage,
    });
    const needs = needsOf(configSchema.parse({}), target, { count: 1, inputBytes: 10 });
    const executor = createLocalExecutor({ logger: createSilentLogger(), baseDir: temp.dir });
    const checks = await runPreflight(executor, needs, undefined, { PF_PREFIX: prefix });
    const byName = Object.fromEntries(checks.map((c) => [c.name, c]));
    expect(byName["remote python"]?.detail).toBe(`Python 3.11.9 (${prefix}/venv/bin/python)`);
    expect(byName["remote mediapipe"]).toMatchObject({ ok: true });
    expect(byName["remote model"]).toMatchObject({ ok: true });
    expect(byName["remote disk"]?.detail).toContain(`free in ${temp.dir}`);
    expect(() => assertPreflight(checks, "pod")).not.toThrow();

    // Without setup-pod's prefix: python3 has no mediapipe here, and there is no model.
    const bare = await runPreflight(executor, needs, undefined, { PF_PREFIX: join(temp.dir, "x") });
    expect(() => assertPreflight(bare, "pod")).toThrow(/remote mediapipe[\s\S]*setup-pod/);
    expect(() => assertPreflight(bare, "pod", ["mediapipe", "model"])).not.toThrow();

    // detect.models: every further model's file is looked for too, and named when missing.
    const both = needsOf(configSchema.parse({ detect: { models: ["heavy", "full"] } }), target, {
      count: 1,
      inputBytes: 10,
    });
    const noHeavy = await runPreflight(executor, both, undefined, { PF_PREFIX: prefix });
    const model = noHeavy.find((c) => c.name === "remote model");
    expect(model).toMatchObject({ ok: false });
    expect(model?.detail).toContain("pose_landmarker_heavy.task");
    expect(model?.detail).toContain(`found: ${prefix}/models/pose_landmarker_full.task`);
    expect(() => assertPreflight(noHeavy, "pod")).toThrow(/remote model[\s\S]*setup-pod/);
    writeFileSync(join(prefix, "models", "pose_landmarker_heavy.task"), "model");
    const withHeavy = await runPreflight(executor, both, undefined, { PF_PREFIX: prefix });
    expect(withHeavy.find((c) => c.name === "remote model")).toMatchObject({ ok: true });

    // A run bigger than the disk is refused with what to do.
    const huge = { ...needs, bytes: 1e18 };
    const full = await runPreflight(executor, huge, undefined, { PF_PREFIX: prefix });
    expect(() => assertPreflight(full, "pod")).toThrow(/remote disk: .* needs about/);
  });
});
