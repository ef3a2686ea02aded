/** `rigs:` in the config: validation with did-you-mean, job.json, the render cache key. */
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { parseConfigText } from "../../src/config/load.js";
import {
  BUILTIN_RIG_PROFILES,
  REQUIRED_RIG_JOINTS,
  RIG_JOINTS,
  unusedAssignments,
} from "../../src/config/rigs.js";
import { configSchema } from "../../src/config/schema.js";
import { renderKey } from "../../src/pipeline/cache-key.js";
import { buildJob } from "../../src/render/job.js";
import { BLENDER_DIR } from "../../src/render/sample.js";

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected an error");
}

const RIGS = `rigs:
  profiles:
    biped:
      hips: Bip01 Pelvis
      left_wrist: "Bip01 L Hand(Nub)?"
  assign:
    "Hero One": biped
    Villain: daz
`;

describe("rigs: in the config", () => {
  it("reads profiles (names or regular expressions) and assignments", () => {
    const config = parseConfigText(RIGS, "p.yaml");
    expect(config.rigs.profiles.biped).toEqual({
      hips: "Bip01 Pelvis",
      left_wrist: "Bip01 L Hand(Nub)?",
    });
    expect(config.rigs.assign).toEqual({ "Hero One": "biped", Villain: "daz" });
    expect(parseConfigText("", "p.yaml").rigs).toEqual({ profiles: {}, assign: {} });
  });

  it("names an unknown joint with its line and the joint meant", () => {
    const error = errorOf(() =>
      parseConfigText(
        "rigs:\n  profiles:\n    mine:\n      left_wirst: L_Hand\n      elbow_l: L_Elbow\n",
        "p.yaml",
      ),
    );
    expect(error.message).toMatch(
      /p\.yaml:4:\d+ rigs\.profiles\.mine\.left_wirst: unknown joint `left_wirst` \(did you mean `left_wrist`\?\)/,
    );
    expect(error.message).toMatch(/unknown joint `elbow_l`/);
    expect(error.message).toContain("joints are head, left_shoulder");
  });

  it("refuses an assignment to a profile that does not exist, and a broken regular expression", () => {
    const error = errorOf(() =>
      parseConfigText(
        'rigs:\n  profiles:\n    mine:\n      head: "Head("\n  assign:\n    Hero: dazz\n',
        "p.yaml",
      ),
    );
    expect(error.message).toMatch(
      /rigs\.assign\.Hero: unknown rig profile `dazz` \(did you mean `daz`\?\); profiles are mixamo, rigify, mpfb, daz, cc, unreal, vrm, mine/,
    );
    expect(error.message).toMatch(
      /rigs\.profiles\.mine\.head: `Head\(` is not a valid regular expression/,
    );
  });

  it("uses the joint and profile names of blender/posefactory_bpy/rigs.py", () => {
    const script =
      "import json\nfrom posefactory_bpy import rigs\n" +
      "print(json.dumps({'joints': rigs.JOINTS, 'required': rigs.REQUIRED_JOINTS, 'profiles': rigs.BUILTIN_NAMES}))";
    const python = JSON.parse(
      execFileSync("python3", ["-c", script], { cwd: BLENDER_DIR, encoding: "utf8" }),
    );
    expect(python.joints).toEqual([...RIG_JOINTS]);
    expect(python.required).toEqual([...REQUIRED_RIG_JOINTS]);
    expect(python.profiles).toEqual([...BUILTIN_RIG_PROFILES]);
  });

  it("goes into job.json and the render cache key only when set", () => {
    const plain = configSchema.parse({});
    const withRigs = parseConfigText(RIGS, "p.yaml");
    const options = {
      runId: "r1",
      outDir: "/runs/r1",
      characters: [{ name: "a", file: "/c/a.fbx", sha256: "00" }],
    };
    expect(buildJob(plain, options).rigs).toBeUndefined();
    expect(buildJob(withRigs, options).rigs).toEqual(withRigs.rigs);
    expect(renderKey("00", plain, "b")).not.toBe(renderKey("00", withRigs, "b"));
    expect(renderKey("00", plain, "b")).toBe(renderKey("00", configSchema.parse({}), "b"));
  });

  it("warns about an assignment to no character of the run, with the name meant", () => {
    const config = parseConfigText(RIGS, "p.yaml");
    const warnings = unusedAssignments(config.rigs, ["hero-one", "Hero One", "Villian"]);
    expect(warnings).toEqual([
      "rigs.assign names `Villain`, which is no character of this run (did you mean `Villian`?); a character is its file name without the extension",
    ]);
  });
});
