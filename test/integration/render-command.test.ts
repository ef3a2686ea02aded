/**
 * The `render` command on the local target with real Blender, through main(argv): a
 * characters folder with a good file under an awkward name and a corrupt one. The good one
 * renders, the bad one is reported with its error, and the exit code is 1. On every Blender
 * of the matrix (failure isolation is each launcher's exit code contract).
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { runRecordSchema } from "../../src/pipeline/run-record.js";
import { jobSchema } from "../../src/render/job.schema.js";
import { manifestSchema } from "../../src/render/manifest.js";
import { blenderYaml, describeEachBlender, getSampleCharacters } from "../helpers/blender.js";
import { cleanEnv, makeTempDir, runCli } from "../helpers/cli.js";

describeEachBlender("posefactory render (local target, real Blender)", (blender) => {
  let temp: ReturnType<typeof makeTempDir>;
  beforeAll(() => {
    temp = makeTempDir("pf-render-cmd-");
  });
  afterAll(() => temp?.cleanup());

  it("renders the good character, reports the corrupt one, and exits 1", async () => {
    const sample = await getSampleCharacters(blender);
    const characters = join(temp.dir, "characters");
    mkdirSync(characters);
    const awkward = 'Samba "Dancing" $1';
    // Its folder and keys are a slug; the original name stays as displayName.
    const slug = "Samba_Dancing_1";
    copyFileSync(sample.fbx, join(characters, `${awkward}.fbx`));
    writeFileSync(
      join(characters, "broken.fbx"),
      Buffer.from("Kaydara FBX Binary  \0\x1a\0garbage", "latin1"),
    );
    writeFileSync(join(characters, "notes.txt"), "not a character");
    writeFileSync(
      join(temp.dir, "posefactory.yaml"),
      [
        "cameras: {azimuthsDeg: [0, 90], elevationsDeg: [10]}",
        "frames: {list: [20]}",
        "render: {device: cpu, samples: 4, resolution: [128, 128]}",
        `targets: {local: {executor: local, blender: ${blenderYaml(blender)}}}`,
        "",
      ].join("\n"),
    );
    const runId = "20261125-083012-a1b2c3";
    const result = await runCli(["--json", "render", "--run-id", runId], {
      cwd: temp.dir,
      env: cleanEnv({}, temp.home),
    });
    expect(result.code, result.stderr).toBe(1);
    const runDir = join(temp.dir, "data", "runs", runId);
    const record = runRecordSchema.parse(JSON.parse(result.stdout).record);
    expect(record.runId).toBe(runId);
    const broken = record.characters.find((c) => c.name === "broken")!;
    expect(broken.status).toBe("failed");
    expect(broken.error).toMatch(/broken\.fbx/);
    expect(record.characters.find((c) => c.name === slug)).toMatchObject({
      displayName: awkward,
      status: "ok",
      images: 2,
    });
    expect(record.steps.find((s) => s.id === "render")?.status).toBe("done");
    expect(record.steps.find((s) => s.id === "detect")?.status).toBe("pending");

    const job = jobSchema.parse(JSON.parse(readFileSync(join(runDir, "job.json"), "utf8")));
    expect(job.characters.map((c) => c.name).sort()).toEqual([slug, "broken"]);
    expect(job.characters.find((c) => c.name === slug)!.displayName).toBe(awkward);
    expect(job.characters.find((c) => c.name === slug)!.sha256).toMatch(/^[0-9a-f]{64}$/);
    const manifest = manifestSchema.parse(
      JSON.parse(readFileSync(join(runDir, "manifest.json"), "utf8")),
    );
    const good = manifest.characters.find((c) => c.name === slug)!;
    expect(good.displayName).toBe(awkward);
    expect(good.seconds.render).toBeGreaterThan(0);
    expect(good.images.map((i) => i.path).sort()).toEqual([
      `renders/${slug}/mixamo.com/az000_el10/f0022.png`,
      `renders/${slug}/mixamo.com/az090_el10/f0022.png`,
    ]);
    for (const image of good.images) expect(existsSync(join(runDir, image.path))).toBe(true);
    expect(existsSync(join(runDir, "renders", slug, "annotations.json"))).toBe(true);

    const human = await runCli(["runs", "show", runId], {
      cwd: temp.dir,
      env: cleanEnv({}, temp.home),
    });
    expect(human.stdout).toMatch(/failed\s+broken/);
  });
});
