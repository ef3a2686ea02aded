/** The optional outputs: mask (PNG), depth and normals (EXR) beside each render, on every Blender of the matrix. */
import { copyFileSync, existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, expect, it } from "vitest";
import { blenderYaml, describeEachBlender, getSampleCharacters } from "../helpers/blender.js";
import { cleanEnv, makeTempDir, runCli } from "../helpers/cli.js";

describeEachBlender("render outputs (real Blender)", (blender) => {
  let temp: ReturnType<typeof makeTempDir>;
  beforeAll(() => {
    temp = makeTempDir("pf-render-outputs-");
  });
  afterAll(() => temp?.cleanup());

  it("writes a mask that matches the render's alpha, and depth and normal EXRs", async () => {
    mkdirSync(join(temp.dir, "characters"));
    copyFileSync(
      (await getSampleCharacters(blender)).fbx,
      join(temp.dir, "characters", "walker.fbx"),
    );
    writeFileSync(
      join(temp.dir, "posefactory.yaml"),
      [
        "frames: {list: [10]}",
        "cameras: {azimuthsDeg: [45]}",
        "render: {device: cpu, samples: 4, resolution: [128, 96]}",
        "outputs: {mask: true, depth: true, normals: true}",
        `targets: {local: {executor: local, blender: ${blenderYaml(blender)}}}`,
        "",
      ].join("\n"),
    );
    const result = await runCli(["render", "--run-id", "outputs-1"], {
      cwd: temp.dir,
      env: cleanEnv({}, temp.home),
    });
    expect(result.code, result.stderr).toBe(0);
    const view = join(
      temp.dir,
      "data",
      "runs",
      "outputs-1",
      "renders",
      "walker",
      "mixamo.com",
      "az045_el10",
    );
    for (const name of ["f0012.png", "f0012.mask.png", "f0012.depth.exr", "f0012.normal.exr"]) {
      expect(existsSync(join(view, name)), name).toBe(true);
      expect(statSync(join(view, name)).size).toBeGreaterThan(0);
    }
    const alpha = await sharp(join(view, "f0012.png")).extractChannel(3).raw().toBuffer();
    const mask = await sharp(join(view, "f0012.mask.png")).extractChannel(0).raw().toBuffer();
    expect(mask.length).toBe(alpha.length);
    let agree = 0;
    let inside = 0;
    for (let i = 0; i < alpha.length; i++) {
      if (alpha[i]! > 127 === mask[i]! > 127) agree++;
      if (alpha[i]! > 127) inside++;
    }
    expect(inside).toBeGreaterThan(0);
    expect(agree / alpha.length).toBeGreaterThan(0.99);
  });
});
