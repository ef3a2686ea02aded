/** Sharding a run into whole (character, clip) units, and merging the shards back. */
import { describe, expect, it } from "vitest";
import type { Annotations } from "../../src/detect/schema.js";
import { mergeAnnotations, mergeChecksums, mergeManifests } from "../../src/jobs/slurm-merge.js";
import { planShards, planUnits, type WorkUnit } from "../../src/jobs/slurm-shards.js";
import type { Manifest } from "../../src/render/manifest.js";

describe("planShards", () => {
  const units = (weights: number[]): WorkUnit[] =>
    weights.map((weight, i) => ({ character: `c${i}`, clip: "walk", weight }));

  it("balances by weight, keeps units whole and never exceeds maxShards", () => {
    const shards = planShards(units([8, 7, 6, 5, 4]), 2);
    // Longest first, each to the lightest shard: 8 | 7, 6 -> 7+6, 5 -> 8+5, 4 -> the first (tie).
    expect(shards.map((s) => s.weight)).toEqual([17, 13]);
    expect(shards.map((s) => s.units.map((u) => u.character))).toEqual([
      ["c0", "c3", "c4"],
      ["c1", "c2"],
    ]);
    const all = shards.flatMap((s) => s.units.map((u) => u.character)).sort();
    expect(all).toEqual(["c0", "c1", "c2", "c3", "c4"]);
  });

  it("makes no more shards than units and is deterministic", () => {
    expect(planShards(units([1, 1]), 8)).toHaveLength(2);
    expect(planShards(units([3, 1, 2, 2]), 3)).toEqual(planShards(units([3, 1, 2, 2]), 3));
    expect(planShards(units([1, 1, 1, 1]), 3).map((s) => s.units.length)).toEqual([2, 1, 1]);
  });

  it("rejects bad input", () => {
    expect(() => planShards(units([1]), 0)).toThrow(/maxShards/);
    expect(() =>
      planShards(
        [
          { character: "a", clip: "x", weight: 1 },
          { character: "a", clip: "x", weight: 1 },
        ],
        2,
      ),
    ).toThrow(/twice/);
  });

  it("builds units from characters x clips, weighted by frames x cameras", () => {
    const u = planUnits(["a", "b"], ["Walk", "Wave"], 4, (c, clip) =>
      c === "a" && clip === "Walk" ? 10 : undefined,
    );
    expect(u).toEqual([
      { character: "a", clip: "Walk", weight: 40 },
      { character: "a", clip: "Wave", weight: 4 },
      { character: "b", clip: "Walk", weight: 4 },
      { character: "b", clip: "Wave", weight: 4 },
    ]);
    expect(planUnits(["a"], [], 2, () => 3)).toEqual([{ character: "a", clip: null, weight: 6 }]);
  });
});

const clip = (name: string) => ({
  name,
  frameRange: [1, 10] as [number, number],
  bbox: { min: [0, 0, 0] as [number, number, number], max: [1, 1, 1] as [number, number, number] },
  bboxEvaluations: 1,
  cameras: [],
});
const image = (character: string, c: string, frame: number) => ({
  path: `renders/${character}/${c}/az000_el10/f${String(frame).padStart(4, "0")}.png`,
  clip: c,
  camera: "az000_el10",
  frame,
});
const part = (character: string, clips: string[], status: "ok" | "failed" = "ok") => ({
  name: character,
  status,
  ...(status === "failed" ? { error: `${character} broke` } : {}),
  seconds: { import: 1, bbox: 1, cameras: 1, render: 2 },
  clips: clips.map(clip),
  images: clips.flatMap((c) => [image(character, c, 1), image(character, c, 2)]),
  annotations: `renders/${character}/annotations.json`,
});
const manifest = (characters: ReturnType<typeof part>[]): Manifest => ({
  version: 1,
  runId: "r",
  blenderVersion: "3.4.1",
  device: { type: "CPU", names: ["CPU"] },
  characters,
});

describe("mergeManifests", () => {
  it("joins a character's clips from several shards in the config's clip order", () => {
    const merged = mergeManifests(
      "r1",
      [
        manifest([part("b", ["Walk"])]),
        manifest([part("a", ["Wave"])]),
        manifest([part("a", ["Walk"]), part("b", ["Wave"], "failed")]),
      ],
      { characters: ["a", "b"], clips: ["Walk", "Wave"] },
    );
    expect(merged.runId).toBe("r1");
    expect(merged.characters.map((c) => [c.name, c.status, c.clips.map((x) => x.name)])).toEqual([
      ["a", "ok", ["Walk", "Wave"]],
      ["b", "failed", ["Walk", "Wave"]],
    ]);
    expect(merged.characters[0]?.images.map((i) => `${i.clip}${i.frame}`)).toEqual([
      "Walk1",
      "Walk2",
      "Wave1",
      "Wave2",
    ]);
    expect(merged.characters[0]?.seconds.render).toBe(4);
    expect(merged.characters[1]?.error).toBe("b broke");
    expect(merged.characters[0]?.error).toBeUndefined();
  });
});

describe("mergeAnnotations", () => {
  const doc = (clips: string[]): Annotations =>
    ({
      info: { description: "x", version: "1" },
      categories: [],
      images: clips.flatMap((c, i) => [
        { id: 2 * i + 1, file_name: `${c}/v/f0001.png`, width: 8, height: 8, clip: c },
        { id: 2 * i + 2, file_name: `${c}/v/f0002.png`, width: 8, height: 8, clip: c },
      ]),
      annotations: clips.flatMap((c, i) => [
        { id: 2 * i + 1, image_id: 2 * i + 1, tag: `${c}1` },
        { id: 2 * i + 2, image_id: 2 * i + 2, tag: `${c}2` },
      ]),
      mediapipe_landmarks: [],
      character: "a",
    }) as unknown as Annotations;

  it("renumbers images in canonical order and keeps each annotation on its image", () => {
    const merged = mergeAnnotations([doc(["Wave"]), doc(["Walk"])], { clips: ["Walk", "Wave"] });
    expect(merged.images.map((i) => [i.id, i.file_name])).toEqual([
      [1, "Walk/v/f0001.png"],
      [2, "Walk/v/f0002.png"],
      [3, "Wave/v/f0001.png"],
      [4, "Wave/v/f0002.png"],
    ]);
    expect(
      merged.annotations.map((a) => [a.id, a.image_id, (a as unknown as { tag: string }).tag]),
    ).toEqual([
      [1, 1, "Walk1"],
      [2, 2, "Walk2"],
      [3, 3, "Wave1"],
      [4, 4, "Wave2"],
    ]);
    // The same ids as one shard that rendered both clips.
    expect(
      mergeAnnotations([doc(["Walk", "Wave"])], { clips: [] }).images.map((i) => i.id),
    ).toEqual(merged.images.map((i) => i.id));
  });
});

describe("mergeChecksums", () => {
  it("joins the shards' lines sorted by path and replaces merged files' hashes", () => {
    const h = (c: string) => c.repeat(64);
    const text = mergeChecksums(
      [
        `${h("b")}  renders/b/x.png\n${h("c")}  renders/a/annotations.json\n`,
        `${h("a")}  renders/a/y.png\n`,
      ],
      { "renders/a/annotations.json": h("d") },
    );
    expect(text).toBe(
      `${h("d")}  renders/a/annotations.json\n${h("a")}  renders/a/y.png\n${h("b")}  renders/b/x.png\n`,
    );
  });
});
