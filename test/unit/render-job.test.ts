/** Pure parts of src/render: job building, names, run ids, the Blender command, manifests. */
import { mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { configSchema } from "../../src/config/schema.js";
import {
  COCO_KEYPOINTS,
  COCO_TO_MEDIAPIPE,
  MEDIAPIPE_LANDMARKS,
} from "../../src/detect/landmarks.js";
import { UserError } from "../../src/errors.js";
import { buildRenderCommand, lineSplitter, summarizeManifest } from "../../src/render/blender.js";
import {
  buildJob,
  characterNameOf,
  listCharacterFiles,
  unsafeNameReason,
} from "../../src/render/job.js";
import { BLENDER_DIR } from "../../src/render/sample.js";
import { createRunId, isValidRunId } from "../../src/run/id.js";
import { parseManifest } from "../../src/run/manifest.js";
import { SyncCache } from "../../src/storage/hash.js";

describe("character names", () => {
  it("keeps the file name without its extension exactly", () => {
    expect(characterNameOf('Samba "Dancing" $1.fbx')).toBe('Samba "Dancing" $1');
    expect(characterNameOf("walker.v2.glb")).toBe("walker.v2");
    expect(characterNameOf("héros du jour.blend")).toBe("héros du jour");
  });

  it("refuses names that are not one safe path segment", () => {
    for (const bad of ["a\\b", "x\0y", "..", ".", "", "a..b"])
      expect(unsafeNameReason(bad), bad).toBeDefined();
    expect(() => characterNameOf("...fbx")).toThrow(UserError);
    expect(() => characterNameOf("a\\b.fbx")).toThrow(/Rename the file/);
  });
});

describe("listCharacterFiles", () => {
  const dir = mkdtempSync(join(tmpdir(), "pf-chars-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("lists .fbx/.glb/.gltf/.blend files sorted, with their sha256", async () => {
    writeFileSync(join(dir, "b.FBX"), "b");
    writeFileSync(join(dir, "a b.glb"), "a");
    writeFileSync(join(dir, "readme.md"), "no");
    const files = await listCharacterFiles(dir);
    expect(files.map((f) => f.name)).toEqual(["a_b", "b"]);
    expect(files.map((f) => f.displayName)).toEqual(["a b", "b"]);
    // sha256("a")
    expect(files[0]!.sha256).toBe(
      "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb",
    );
    expect(files[0]!.file).toBe(join(dir, "a b.glb"));
  });

  it("hashes through a hash cache: a file the cache knows at its size and mtime is not read again", async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), "pf-chars-cache-"));
    try {
      const cache = await SyncCache.open(cacheDir);
      const viaCache = () =>
        listCharacterFiles(dir, (file, size, mtimeMs) => cache.hash(file, size, mtimeMs));
      const first = await viaCache();
      await cache.save();
      const file = join(dir, "a b.glb");
      const { size, mtimeMs } = statSync(file);
      expect((await SyncCache.open(cacheDir)).cachedHash(file, size, mtimeMs)).toBe(
        first[0]!.sha256,
      );
      // The cache answers for an unchanged file, whatever its bytes: they are not read. Any
      // change of size or mtime reads them again.
      cache.rememberHash(file, size, mtimeMs, "0".repeat(64));
      expect((await viaCache())[0]!.sha256).toBe("0".repeat(64));
      utimesSync(file, new Date(), new Date(mtimeMs + 5000));
      expect((await viaCache())[0]!.sha256).toBe(first[0]!.sha256);
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });

  it("refuses two files that would be the same character, and a missing folder", async () => {
    writeFileSync(join(dir, "b.gltf"), "{}");
    await expect(listCharacterFiles(dir)).rejects.toThrow(/both be character `b`/);
    await expect(listCharacterFiles(join(dir, "nope"))).rejects.toThrow(/posefactory sample/);
  });
});

describe("buildJob", () => {
  it("maps the config's cameras, frames, render, outputs and clips", () => {
    const config = configSchema.parse({
      clips: ["Walk"],
      frames: { list: [0, 5] },
      cameras: { distanceM: 3.5, heightM: 1.4 },
      render: { resolution: [320, 180] },
    });
    const job = buildJob(config, {
      runId: "r1",
      outDir: "/runs/r1",
      characters: [{ name: "a", file: "/c/a.fbx", sha256: "00" }],
    });
    expect(job).toMatchObject({
      version: 1,
      runId: "r1",
      outDir: "/runs/r1",
      frames: { list: [0, 5] },
      characters: [{ name: "a", file: "/c/a.fbx", sha256: "00", clips: ["Walk"] }],
      cameras: {
        azimuthsDeg: [0, 45, 90, 135, 180, 225, 270, 315],
        elevationsDeg: [10],
        framing: "follow",
        distanceM: 3.5,
        heightM: 1.4,
      },
      render: { engine: "CYCLES", device: "auto", resolution: [320, 180], transparent: true },
      outputs: { rgb: true, keypoints: true },
    });
    const plain = buildJob(configSchema.parse({}), {
      runId: "r",
      outDir: "o",
      characters: [{ name: "a", file: "a", sha256: "" }],
    });
    expect(plain.characters[0]).not.toHaveProperty("clips");
    expect(plain.cameras).not.toHaveProperty("distanceM");
    expect(plain.frames).toEqual({ step: 10 });
    expect(plain.cameras.bbox).toBe("fast");
    const exact = buildJob(configSchema.parse({ cameras: { bbox: "exact" } }), {
      runId: "r",
      outDir: "o",
      characters: [],
    });
    expect(exact.cameras.bbox).toBe("exact");
  });
});

describe("run ids", () => {
  it("are sortable UTC time plus a short hash", () => {
    expect(createRunId(new Date(Date.UTC(2026, 10, 25, 8, 30, 12)), "a1b2c3")).toBe(
      "20261125-083012-a1b2c3",
    );
    expect(createRunId()).toMatch(/^\d{8}-\d{6}-[0-9a-f]{6}$/);
    expect(isValidRunId("20261125-083012-a1b2c3")).toBe(true);
    for (const bad of ["../x", "a/b", "", ".hidden", "a b"])
      expect(isValidRunId(bad), bad).toBe(false);
  });
});

describe("the Blender command", () => {
  it("always runs headless, factory settings, exit code 2 on a Python error, args after --", () => {
    const command = buildRenderCommand(
      "/opt/blender 4.2/blender",
      "/runs/it's/job.json",
      "/srv/pf/blender/",
    );
    expect(command).toBe(
      "'/opt/blender 4.2/blender' --background --factory-startup --python-exit-code 2 --python /srv/pf/blender/render.py -- --job '/runs/it'\\''s/job.json'",
    );
    expect(buildRenderCommand("blender", "j.json")).toContain(
      `${BLENDER_DIR.replace(/\/$/, "")}/render.py`,
    );
  });

  it("splits chunked output into lines", () => {
    const lines: string[] = [];
    const split = lineSplitter((l) => lines.push(l));
    split.push("posefactory: a\r\nposefac");
    split.push("tory: b\nrest");
    split.end();
    expect(lines).toEqual(["posefactory: a", "posefactory: b", "rest"]);
  });
});

describe("manifest", () => {
  const manifest = {
    version: 1,
    runId: "r",
    blenderVersion: "3.4.1",
    device: { type: "CPU", names: ["CPU"] },
    characters: [
      {
        name: "a",
        status: "ok",
        seconds: { import: 1, bbox: 0.5, cameras: 0, render: 2 },
        clips: [],
        images: [{ path: "p", clip: "c", camera: "az000_el10", frame: 1 }],
      },
      {
        name: "b",
        status: "failed",
        error: "cannot import b.fbx",
        seconds: { import: 0.1, bbox: 0, cameras: 0, render: 0 },
        clips: [],
        images: [],
      },
    ],
  };

  it("summarizes characters, images and seconds per stage", () => {
    const summary = summarizeManifest(parseManifest(JSON.stringify(manifest), "m.json"), "/runs/r");
    expect(summary).toMatchObject({
      ok: 1,
      failed: 1,
      images: 1,
      seconds: { import: 1.1, bbox: 0.5, render: 2 },
    });
    expect(summary.characters[1]).toMatchObject({ name: "b", error: "cannot import b.fbx" });
  });

  it("names the key path that breaks the contract", () => {
    const bad = { ...manifest, characters: [{ ...manifest.characters[0], status: "done" }] };
    expect(() => parseManifest(JSON.stringify(bad), "m.json")).toThrow(
      /m\.json .*characters\.0\.status/,
    );
    expect(() => parseManifest("{", "m.json")).toThrow(/not valid JSON/);
  });
});

describe("the Python copy of the landmark tables", () => {
  it("agrees with src/detect/landmarks.ts", () => {
    const text = readFileSync(join(BLENDER_DIR, "posefactory_bpy", "landmarks.py"), "utf8");
    const list = (name: string) => {
      const match = new RegExp(`${name}[^=]*=\\s*\\[([\\s\\S]*?)\\]`).exec(text);
      return match![1]!
        .match(/"[^"]+"|\d+/g)!
        .map((s) => (s.startsWith('"') ? s.slice(1, -1) : Number(s)));
    };
    expect(list("MEDIAPIPE_LANDMARKS")).toEqual([...MEDIAPIPE_LANDMARKS]);
    expect(list("COCO_KEYPOINTS")).toEqual([...COCO_KEYPOINTS]);
    expect(list("COCO_TO_MEDIAPIPE")).toEqual([...COCO_TO_MEDIAPIPE]);
  });
});
