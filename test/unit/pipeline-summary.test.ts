/** The pipeline's closing summary: a multi-line character error goes below the table. */
import { describe, expect, it } from "vitest";
import type { RunRecord } from "../../src/pipeline/run-record.js";
import { formatPipelineSummary } from "../../src/pipeline/summary.js";

const error = `hero.fbx: unknown rig: no rig profile fits its bones. None of the profiles finds any of its joints.
Bones found (2): Bip01 Pelvis, Bip01 L Hand
Map the joints to bones (a name or a regular expression) in posefactory.yaml, then run again:
rigs:
  profiles:
    hero:
      left_wrist: "Bip01 L Hand"  # a guess: check it
  assign:
    "hero": hero`;

const record: RunRecord = {
  version: 1,
  runId: "20261201-090000-abcdef",
  createdAt: "",
  updatedAt: "",
  status: "partial",
  target: { name: "local", executor: "local", storage: "fs" },
  configPath: null,
  configHash: "",
  blenderHash: "",
  versions: { posefactory: "0" },
  steps: [],
  characters: [
    { name: "ok-one", file: "a.fbx", sha256: "", renderKey: "", status: "ok", images: 8 },
    {
      name: "hero",
      file: "hero.fbx",
      sha256: "",
      renderKey: "",
      status: "failed",
      images: 0,
      error,
    },
  ],
  counts: { imagesRendered: 8, imagesReused: 0, uploaded: 0, downloaded: 0 },
  results: { dir: "data/runs/x" },
};

describe("pipeline summary", () => {
  it("keeps the table to one line per character and prints the rigs: block below it", () => {
    const lines = formatPipelineSummary(record);
    const table = lines[1]!;
    expect(table.split("\n")).toHaveLength(3); // header + two characters
    expect(table).toContain("hero.fbx: unknown rig: no rig profile fits its bones.");
    expect(table).not.toContain("Bones found");
    const details = lines.find((l) => l.startsWith("hero: "))!;
    expect(details).toContain("rigs:\n  profiles:\n    hero:\n");
    expect(lines.indexOf(details)).toBe(2);
  });
});
