/**
 * Safe names: a character file and glTF clips whose names are not folder names render into
 * readable slugs (letters, digits, `-`, `_`, `.`), unique, while the manifest and
 * annotations keep the original names.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { listCharacterFiles } from "../../src/render/job.js";
import { slugName, uniqueSlugs } from "../../src/run/names.js";
import { makeJob, makeSampleGlb, renderJob } from "../helpers/blender.js";
import { makeTempDir } from "../helpers/cli.js";

const temp = makeTempDir("pf-names-");
afterAll(() => temp.cleanup());

const SAFE = /^[A-Za-z0-9._-]+$/;

describe("slugs", () => {
  it("keep names readable, drop what is not a letter, digit, - _ or ., and stay unique", () => {
    expect(slugName("Armature|mixamo.com|Layer0", "clip")).toBe("Armature_mixamo.com_Layer0");
    expect(slugName('Samba "Dancing" $1', "character")).toBe("Samba_Dancing_1");
    expect(slugName("Café Olé", "character")).toBe("Cafe_Ole");
    expect(slugName("../..", "character")).toBe("character");
    expect(slugName("walker", "character")).toBe("walker");
    expect(uniqueSlugs(["a b", "a_b", "A-b", "A B"], "c")).toEqual([
      "a_b",
      "a_b-2",
      "A-b",
      "A_B-3",
    ]);
  });
});

describe("rendering names that are not folder names", { timeout: 300_000 }, () => {
  it("writes slug folders and keys; the manifest and annotations keep the original names", async () => {
    const clips: [string, string] = ["Armature|mixamo.com|Layer0", "Armature|mixamo.com|Layer0|"];
    const glb = await makeSampleGlb(join(temp.dir, "made"), clips);
    const characters = join(temp.dir, "characters");
    mkdirSync(characters, { recursive: true });
    copyFileSync(glb, join(characters, 'Samba "Dancing" $1.glb'));
    copyFileSync(glb, join(characters, "Samba Dancing 1.glb"));
    const files = await listCharacterFiles(characters);
    expect(files.map((f) => [f.name, f.displayName])).toEqual([
      ["Samba_Dancing_1", 'Samba "Dancing" $1'],
      ["Samba_Dancing_1-2", "Samba Dancing 1"],
    ]);
    const outDir = join(temp.dir, "run");
    const manifest = await renderJob(
      makeJob({
        characters: files.slice(0, 1).map((f) => ({
          name: f.name,
          displayName: f.displayName,
          file: f.file,
          sha256: f.sha256,
        })),
        cameras: {
          azimuthsDeg: [0],
          elevationsDeg: [10],
          lensMm: 50,
          sensorMm: 36,
          margin: 0.05,
          framing: "follow",
        },
        outDir,
      }),
    );
    const character = manifest.characters[0]!;
    expect(character.status, character.error).toBe("ok");
    expect(character.name).toBe("Samba_Dancing_1");
    expect(character.displayName).toBe('Samba "Dancing" $1');
    // The sorted original names decide which one gets `-2`, whatever the importer's order.
    expect(character.clips.map((c) => [c.name, c.displayName]).sort()).toEqual([
      ["Armature_mixamo.com_Layer0", clips[0]],
      ["Armature_mixamo.com_Layer0-2", clips[1]],
    ]);
    for (const image of character.images) {
      for (const segment of image.path.split("/")) expect(segment).toMatch(SAFE);
      expect(existsSync(join(outDir, image.path))).toBe(true);
    }
    expect(readdirSync(join(outDir, "renders"))).toEqual(["Samba_Dancing_1"]);
    const annotations = JSON.parse(
      readFileSync(join(outDir, "renders", "Samba_Dancing_1", "annotations.json"), "utf8"),
    );
    expect(annotations.character).toBe("Samba_Dancing_1");
    expect(annotations.character_name).toBe('Samba "Dancing" $1');
    expect(
      new Set(
        annotations.images.map(
          (i: { clip: string; clip_name: string }) => `${i.clip}=${i.clip_name}`,
        ),
      ),
    ).toEqual(
      new Set([
        `Armature_mixamo.com_Layer0=${clips[0]}`,
        `Armature_mixamo.com_Layer0-2=${clips[1]}`,
      ]),
    );
  });
});
