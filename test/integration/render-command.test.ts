/**
 * The `render` command on the local target with real Blender: a characters folder with a
 * good file under an awkward name and a corrupt one. The good one renders, the bad one is
 * reported with its error, and the exit code is 1.
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { command } from "../../src/commands/render.js";
import { configSchema, type ResolvedConfig } from "../../src/config/schema.js";
import type { Context } from "../../src/context.js";
import { createSilentLogger } from "../../src/log.js";
import { createLocalExecutor } from "../../src/remote/local.js";
import type { RenderSummary } from "../../src/render/blender.js";
import { jobSchema } from "../../src/render/job.schema.js";
import { manifestSchema } from "../../src/render/manifest.js";
import { BLENDER, getSampleCharacters } from "../helpers/blender.js";

function makeContext(baseDir: string, results: unknown[], lines: string[]): Context {
  const config = configSchema.parse({
    characters: "characters",
    cameras: { azimuthsDeg: [0, 90], elevationsDeg: [10] },
    frames: { list: [20] },
    render: { device: "cpu", samples: 4, resolution: [128, 128] },
    targets: { local: { executor: "local", blender: BLENDER, workdir: "work" } },
  });
  const resolved: ResolvedConfig = {
    config,
    path: join(baseDir, "posefactory.yaml"),
    baseDir,
    targetName: "local",
    target: config.targets.local!,
  };
  const logger = createSilentLogger();
  return {
    resolved,
    logger,
    global: { json: true },
    cwd: baseDir,
    env: process.env,
    signal: new AbortController().signal,
    storage: () => Promise.reject(new Error("render does not use storage")),
    executor: async () => createLocalExecutor({ logger, baseDir }),
    output: { text: (line) => lines.push(line), result: (value) => results.push(value) },
  };
}

describe("posefactory render (local target, real Blender)", () => {
  const dir = mkdtempSync(join(tmpdir(), "pf-render-cmd-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("renders the good character, reports the corrupt one, and exits 1", async () => {
    const sample = await getSampleCharacters();
    const characters = join(dir, "characters");
    mkdirSync(characters);
    const awkward = 'Samba "Dancing" $1';
    copyFileSync(sample.fbx, join(characters, `${awkward}.fbx`));
    writeFileSync(
      join(characters, "broken.fbx"),
      Buffer.from("Kaydara FBX Binary  \0\x1a\0garbage", "latin1"),
    );
    writeFileSync(join(characters, "notes.txt"), "not a character");

    const results: unknown[] = [];
    const lines: string[] = [];
    const code = await command.run(
      [],
      { runId: "20261125-083012-a1b2c3" },
      makeContext(dir, results, lines),
    );

    expect(code).toBe(1);
    expect(results).toHaveLength(1);
    const summary = results[0] as RenderSummary;
    expect(summary).toMatchObject({ runId: "20261125-083012-a1b2c3", ok: 1, failed: 1, images: 2 });
    const runDir = join(dir, "work", "runs", "20261125-083012-a1b2c3");
    expect(summary.runDir).toBe(runDir);

    const broken = summary.characters.find((c) => c.name === "broken")!;
    expect(broken.status).toBe("failed");
    expect(broken.error).toMatch(/broken\.fbx/);
    const good = summary.characters.find((c) => c.name === awkward)!;
    expect(good.status).toBe("ok");
    expect(good.seconds.render).toBeGreaterThan(0);

    const job = jobSchema.parse(JSON.parse(readFileSync(join(runDir, "job.json"), "utf8")));
    expect(job.characters.map((c) => c.name).sort()).toEqual([awkward, "broken"]);
    expect(job.characters.find((c) => c.name === awkward)!.sha256).toMatch(/^[0-9a-f]{64}$/);
    const manifest = manifestSchema.parse(
      JSON.parse(readFileSync(join(runDir, "manifest.json"), "utf8")),
    );
    const images = manifest.characters.find((c) => c.name === awkward)!.images;
    expect(images.map((i) => i.path).sort()).toEqual([
      `renders/${awkward}/mixamo.com/az000_el10/f0022.png`,
      `renders/${awkward}/mixamo.com/az090_el10/f0022.png`,
    ]);
    for (const image of images) expect(existsSync(join(runDir, image.path))).toBe(true);
    expect(existsSync(join(runDir, "renders", awkward, "annotations.json"))).toBe(true);
    expect(lines.join("\n")).toContain("FAILED  broken");
  });
});
