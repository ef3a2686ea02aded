/**
 * One render entry, two launchers: blender/render.py under the Blender binary and under
 * `python render.py` with the bpy wheel gives the same manifest for the same job.json and
 * the same exit codes (0 ok, 1 a character failed, 2 bad job). Plus what changed between the
 * Blenders of the matrix that the scripts must absorb (EEVEE's engine id).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSilentLogger } from "../../src/log.js";
import { createLocalExecutor } from "../../src/remote/local.js";
import { blenderScriptCommand } from "../../src/render/launcher.js";
import type { Manifest } from "../../src/render/manifest.js";
import { BLENDER_DIR } from "../../src/render/sample.js";
import {
  BLENDERS,
  DEFAULT_BLENDER,
  describeEachBlender,
  getSampleCharacters,
  makeJob,
  renderJob,
  type TestBlender,
} from "../helpers/blender.js";

async function runScript(blender: TestBlender, script: string, args: string[], cwd: string) {
  const executor = createLocalExecutor({ logger: createSilentLogger(), baseDir: cwd });
  let output = "";
  const result = await executor.run(blenderScriptCommand(blender.setting, script, args), {
    cwd,
    onStdout: (chunk) => (output += chunk),
    onStderr: (chunk) => (output += chunk),
  });
  return { code: result.exitCode, output };
}

const ENGINE_PROBE = `
import sys
sys.path.insert(0, ${JSON.stringify(BLENDER_DIR)})
import bpy
from posefactory_bpy import entry
from posefactory_bpy.render import set_engine

def main(argv):
    scene = bpy.context.scene
    for requested in argv:
        set_engine(scene, requested)
        print(f"engine {requested} -> {scene.render.engine}", flush=True)
    print(f"mode {'module' if entry.is_module_mode() else 'binary'} {bpy.app.version_string}", flush=True)
    return 0

entry.run(main)
`;

describeEachBlender("entry scripts and version differences", (blender) => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "pf-launchers-"));
  });
  afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

  it("exits 2 for a bad job (no job.json, bad arguments) and writes no manifest", async () => {
    const render = join(BLENDER_DIR, "render.py");
    const missing = await runScript(blender, render, ["--job", join(dir, "nope.json")], dir);
    expect(missing.code, missing.output).toBe(2);
    expect(missing.output).toMatch(/nope\.json/);
    const usage = await runScript(blender, render, ["--bogus"], dir);
    expect(usage.code, usage.output).toBe(2);
    expect(usage.output).toMatch(/--job/);
    writeFileSync(join(dir, "bad.json"), '{"version": 99}');
    const bad = await runScript(blender, render, ["--job", join(dir, "bad.json")], dir);
    expect(bad.code, bad.output).toBe(2);
  });

  it("maps either EEVEE id to the one this Blender has, and knows its launcher", async () => {
    writeFileSync(join(dir, "engine.py"), ENGINE_PROBE);
    const probe = await runScript(
      blender,
      join(dir, "engine.py"),
      ["BLENDER_EEVEE", "BLENDER_EEVEE_NEXT", "CYCLES"],
      dir,
    );
    expect(probe.code, probe.output).toBe(0);
    const version = /^mode (module|binary) (\d+)\.(\d+)/m.exec(probe.output);
    expect(version, probe.output).not.toBeNull();
    expect(version![1]).toBe(typeof blender.setting === "string" ? "binary" : "module");
    const [major, minor] = [Number(version![2]), Number(version![3])];
    const eevee = major === 4 && minor >= 2 && minor <= 5 ? "BLENDER_EEVEE_NEXT" : "BLENDER_EEVEE";
    expect(probe.output).toContain(`engine BLENDER_EEVEE -> ${eevee}`);
    expect(probe.output).toContain(`engine BLENDER_EEVEE_NEXT -> ${eevee}`);
    expect(probe.output).toContain("engine CYCLES -> CYCLES");
  });
});

/** What must not depend on the launcher: everything but timings, versions and float noise. */
function contractOf(manifest: Manifest) {
  return manifest.characters.map((c) => ({
    name: c.name,
    status: c.status,
    images: c.images.map((i) => `${i.clip}/${i.camera}/${i.frame}: ${i.path}`).sort(),
    annotations: c.annotations,
    clips: c.clips
      .map((clip) => ({
        name: clip.name,
        frameRange: clip.frameRange,
        frames: clip.frames,
        bboxEvaluations: clip.bboxEvaluations,
        cameras: clip.cameras.map((cam) => cam.id),
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
  }));
}

const available = BLENDERS.filter((b) => b.missing === undefined);

describe.skipIf(available.length < 2)("the same job.json on every launcher", () => {
  let dir: string;
  const manifests = new Map<string, Manifest>();
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "pf-launchers-same-"));
    // One set of input files (made by the binary), so only the launcher differs.
    const sample = await getSampleCharacters(DEFAULT_BLENDER);
    for (const blender of available) {
      const job = makeJob({
        outDir: join(dir, blender.id),
        characters: [
          { name: "walker", file: sample.fbx, sha256: "-" },
          { name: "two-clips", file: sample.glb, sha256: "-" },
          { name: "missing", file: join(dir, "missing.fbx"), sha256: "-" },
        ],
        frames: { list: [0, 20] },
        cameras: { ...makeJob({ characters: [], outDir: "" }).cameras, azimuthsDeg: [0, 90] },
      });
      manifests.set(blender.id, await renderJob(job, { blender }));
    }
  });
  afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

  it("writes the same manifest (characters, statuses, clips, frames, cameras, images)", () => {
    const reference = manifests.get(available[0]!.id)!;
    expect(reference.characters.find((c) => c.name === "missing")?.status).toBe("failed");
    for (const blender of available.slice(1)) {
      const manifest = manifests.get(blender.id)!;
      expect(contractOf(manifest), blender.label).toEqual(contractOf(reference));
      expect(manifest.blenderVersion).not.toBe(reference.blenderVersion);
      // Same scene, same framing: the bounding boxes agree within a centimetre.
      for (const character of manifest.characters) {
        const ref = reference.characters.find((c) => c.name === character.name)!;
        for (const clip of character.clips) {
          const other = ref.clips.find((c) => c.name === clip.name)!;
          for (const k of [0, 1, 2]) {
            expect(Math.abs(clip.bbox.min[k]! - other.bbox.min[k]!)).toBeLessThan(0.01);
            expect(Math.abs(clip.bbox.max[k]! - other.bbox.max[k]!)).toBeLessThan(0.01);
          }
        }
      }
      const annotations = (id: string) =>
        JSON.parse(readFileSync(join(dir, id, "renders", "walker", "annotations.json"), "utf8"));
      const a = annotations(available[0]!.id);
      const b = annotations(blender.id);
      expect(b.annotations.length).toBe(a.annotations.length);
      // Ground-truth keypoints come from the rig: the same pixels within half a pixel.
      const pa = a.annotations[0].keypoints_mediapipe as number[];
      const pb = b.annotations[0].keypoints_mediapipe as number[];
      for (let i = 0; i < pa.length; i += 3) expect(Math.abs(pa[i]! - pb[i]!)).toBeLessThan(0.5);
    }
  });
});
