/**
 * The preflight on a host set up by `posefactory setup-pod`: the job's python and model are
 * found in setup-pod's prefix without any configuration (target python stays `python3`).
 * The venv and model here are stand-ins laid out as setup_pod.sh lays them out.
 */
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
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
    const checks = await runPreflight(executor, needs, { env: { PF_PREFIX: prefix } });
    const byName = Object.fromEntries(checks.map((c) => [c.name, c]));
    expect(byName["remote python"]?.detail).toBe(`Python 3.11.9 (${prefix}/venv/bin/python)`);
    expect(byName["remote mediapipe"]).toMatchObject({ ok: true });
    expect(byName["remote model"]).toMatchObject({ ok: true });
    expect(byName["remote disk"]?.detail).toContain(`free in ${temp.dir}`);
    expect(() => assertPreflight(checks, "pod")).not.toThrow();

    // Without setup-pod's prefix: python3 has no mediapipe here, and there is no model.
    const bare = await runPreflight(executor, needs, { env: { PF_PREFIX: join(temp.dir, "x") } });
    expect(() => assertPreflight(bare, "pod")).toThrow(/remote mediapipe[\s\S]*setup-pod/);
    expect(() => assertPreflight(bare, "pod", ["mediapipe", "model"])).not.toThrow();

    // detect.models: every further model's file is looked for too, and named when missing.
    const both = needsOf(configSchema.parse({ detect: { models: ["heavy", "full"] } }), target, {
      count: 1,
      inputBytes: 10,
    });
    const noHeavy = await runPreflight(executor, both, { env: { PF_PREFIX: prefix } });
    const model = noHeavy.find((c) => c.name === "remote model");
    expect(model).toMatchObject({ ok: false });
    expect(model?.detail).toContain("pose_landmarker_heavy.task");
    expect(model?.detail).toContain(`found: ${prefix}/models/pose_landmarker_full.task`);
    expect(() => assertPreflight(noHeavy, "pod")).toThrow(/remote model[\s\S]*setup-pod/);
    writeFileSync(join(prefix, "models", "pose_landmarker_heavy.task"), "model");
    const withHeavy = await runPreflight(executor, both, { env: { PF_PREFIX: prefix } });
    expect(withHeavy.find((c) => c.name === "remote model")).toMatchObject({ ok: true });

    // A run bigger than the disk is refused with what to do.
    const huge = { ...needs, bytes: 1e18 };
    const full = await runPreflight(executor, huge, { env: { PF_PREFIX: prefix } });
    expect(() => assertPreflight(full, "pod")).toThrow(/remote disk: .* needs about/);
  });

  it("remembers slow probes while the files they depend on are unchanged", async () => {
    const bin = join(temp.dir, "probe-bin");
    const calls = join(temp.dir, "probe-calls");
    mkdirSync(bin, { recursive: true });
    const fakeBlender = (version: string) =>
      writeFileSync(
        join(bin, "blender"),
        `#!/bin/sh\necho x >>${calls}\n${version ? `echo "Blender ${version}"` : ""}\n`,
        { mode: 0o755 },
      );
    const count = () => readFileSync(calls, "utf8").split("\n").filter(Boolean).length;
    const target = sshTargetSchema.parse({
      executor: "ssh",
      host: "pod",
      workdir: temp.dir,
      storage,
    });
    const needs = needsOf(configSchema.parse({}), target, { count: 0, inputBytes: 0 });
    const executor = createLocalExecutor({ logger: createSilentLogger(), baseDir: temp.dir });
    const env = {
      PATH: `${bin}:${process.env.PATH}`,
      POSEFACTORY_CACHE_DIR: join(temp.dir, "pod-cache"),
    };
    const blender = async () =>
      (await runPreflight(executor, needs, { env })).find((c) => c.name === "remote blender");

    // A probe that printed nothing is not remembered: the fix shows on the next run.
    fakeBlender("");
    expect(await blender()).toMatchObject({ ok: false });
    const stamp = new Date("2026-01-01T00:00:00Z");
    fakeBlender("4.5.1");
    utimesSync(join(bin, "blender"), stamp, stamp);
    expect(await blender()).toMatchObject({ ok: true, detail: "Blender 4.5.1" });
    expect(await blender()).toMatchObject({ ok: true, detail: "Blender 4.5.1" });
    expect(count()).toBe(2);
    // Rewritten in place (an upgrade) with the same size, inode and time stamp: the change
    // time still differs, so it is asked again.
    fakeBlender("3.3.1");
    utimesSync(join(bin, "blender"), stamp, stamp);
    expect(await blender()).toMatchObject({ ok: false, detail: "Blender 3.3.1 is older than 3.4" });
    expect(count()).toBe(3);

    // The module launcher: keyed on the Python and bpy's package, which setup-pod lays out.
    const venv = join(temp.dir, "probe-venv");
    const bpyInit = join(venv, "lib", "python3.11", "site-packages", "bpy", "__init__.py");
    mkdirSync(join(bpyInit, ".."), { recursive: true });
    mkdirSync(join(venv, "bin"));
    writeFileSync(bpyInit, "");
    writeFileSync(
      join(venv, "bin", "python"),
      `#!/bin/sh\necho x >>${calls}\necho "Blender 4.5.15"\n`,
      { mode: 0o755 },
    );
    const moduleNeeds = {
      ...needs,
      blenderVersionCommand: `${join(venv, "bin", "python")} -c 'import bpy; print("Blender " + bpy.app.version_string)'`,
    };
    const moduleBlender = async () =>
      (await runPreflight(executor, moduleNeeds, { env })).find((c) => c.name === "remote blender");
    expect(await moduleBlender()).toMatchObject({ ok: true, detail: "Blender 4.5.15" });
    expect(await moduleBlender()).toMatchObject({ ok: true });
    expect(count()).toBe(4);
    // Reinstalling bpy touches its package: asked again.
    utimesSync(bpyInit, stamp, stamp);
    expect(await moduleBlender()).toMatchObject({ ok: true });
    expect(count()).toBe(5);
  });
});
