/**
 * The rig profiles (blender/posefactory_bpy/rigs.py) pinned against each tool's documented
 * bone names (test/fixtures/rigs/*.txt, each naming its source). rigs.py's tables and its
 * matcher are plain Python, so this runs python3 without Blender.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BLENDER_DIR } from "../../src/render/sample.js";

const FIXTURES = join(import.meta.dirname, "../fixtures/rigs");

function readBones(file: string): string[] {
  return readFileSync(join(FIXTURES, file), "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

interface Detected {
  profile?: string;
  score?: number;
  joints?: Record<string, string>;
  sides?: Record<string, string | null>;
  error?: string;
}

/** Run rigs.detect on bone lists in plain Python. */
function detect(
  cases: { bones: string[]; profiles?: Record<string, Record<string, string>>; assign?: string }[],
): Detected[] {
  const script = `
import json, sys
from posefactory_bpy import rigs
out = []
for case in json.load(sys.stdin):
    try:
        m = rigs.detect(case["bones"], case.get("profiles"), case.get("assign"), "hero")
        out.append({"profile": m.profile, "score": m.score, "joints": m.joints,
                    "sides": {j: rigs.side_of(b) for j, b in m.joints.items()}})
    except rigs.RigError as e:
        out.append({"error": str(e)})
print(json.dumps(out))
`;
  const stdout = execFileSync("python3", ["-c", script], {
    cwd: BLENDER_DIR,
    input: JSON.stringify(cases),
    encoding: "utf8",
  });
  return JSON.parse(stdout) as Detected[];
}

const EXPECTED: Record<string, { profile: string; joints: Record<string, string> }> = {
  "mixamo.txt": {
    profile: "mixamo",
    joints: {
      left_shoulder: "mixamorig:LeftArm",
      right_elbow: "mixamorig:RightForeArm",
      left_thumb: "mixamorig:LeftHandThumb2",
      head_top: "mixamorig:HeadTop_End",
      left_toe_end: "mixamorig:LeftToe_End",
    },
  },
  "rigify.txt": {
    profile: "rigify",
    joints: {
      hips: "DEF-spine",
      neck: "DEF-spine.004",
      head: "DEF-spine.006",
      left_shoulder: "DEF-upper_arm.L",
      left_elbow: "DEF-forearm.L",
      right_wrist: "DEF-hand.R",
      left_hip: "DEF-thigh.L",
      left_knee: "DEF-shin.L",
      left_ankle: "DEF-foot.L",
      left_toe: "DEF-toe.L",
      left_eye: "ORG-eye.L",
      left_thumb: "DEF-thumb.02.L",
    },
  },
  "mpfb-default.txt": {
    profile: "mpfb",
    joints: {
      hips: "spine05",
      neck: "neck01",
      left_shoulder: "upperarm01.L",
      left_elbow: "lowerarm01.L",
      left_wrist: "wrist.L",
      right_hip: "upperleg01.R",
      right_knee: "lowerleg01.R",
      left_toe: "toe1-1.L",
      left_index: "finger2-1.L",
      left_pinky: "finger5-1.L",
      left_thumb: "finger1-2.L",
    },
  },
  "mpfb-game-engine.txt": {
    profile: "mpfb",
    joints: {
      hips: "pelvis",
      left_shoulder: "upperarm_l",
      left_knee: "calf_l",
      left_toe: "ball_l",
    },
  },
  "daz-genesis8.txt": {
    profile: "daz",
    joints: {
      hips: "hip",
      spine: "abdomenLower",
      neck: "neckLower",
      left_shoulder: "lShldrBend",
      left_elbow: "lForearmBend",
      left_wrist: "lHand",
      left_hip: "lThighBend",
      left_knee: "lShin",
      right_ankle: "rFoot",
      left_toe: "lToe",
      left_eye: "lEye",
      left_thumb: "lThumb2",
    },
  },
  "daz-genesis9.txt": {
    profile: "daz",
    joints: {
      spine: "spine1",
      neck: "neck1",
      left_shoulder: "l_upperarm", // not l_shoulder: that is Genesis 9's clavicle
      left_elbow: "l_forearm",
      left_hip: "l_thigh",
      left_toe: "l_toes",
      right_eye: "r_eye",
    },
  },
  "cc.txt": {
    profile: "cc",
    joints: {
      hips: "CC_Base_Hip",
      neck: "CC_Base_NeckTwist01",
      left_shoulder: "CC_Base_L_Upperarm",
      left_elbow: "CC_Base_L_Forearm",
      left_knee: "CC_Base_L_Calf",
      left_toe: "CC_Base_L_ToeBase",
      right_eye: "CC_Base_R_Eye",
    },
  },
  "unreal-ue4.txt": {
    profile: "unreal",
    joints: {
      hips: "pelvis",
      left_shoulder: "upperarm_l",
      left_elbow: "lowerarm_l",
      left_knee: "calf_l",
      left_toe: "ball_l",
      right_thumb: "thumb_02_r",
    },
  },
  "unreal-ue5.txt": {
    profile: "unreal",
    joints: { neck: "neck_01", left_wrist: "hand_l", right_hip: "thigh_r" },
  },
  "vrm-vroid.txt": {
    profile: "vrm",
    joints: {
      hips: "J_Bip_C_Hips",
      left_shoulder: "J_Bip_L_UpperArm",
      left_elbow: "J_Bip_L_LowerArm",
      left_knee: "J_Bip_L_LowerLeg",
      left_pinky: "J_Bip_L_Little1",
      left_eye: "J_Adj_L_FaceEye",
    },
  },
  "vrm-humanoid.txt": {
    profile: "vrm",
    joints: { left_shoulder: "leftUpperArm", right_knee: "rightLowerLeg", left_toe: "leftToes" },
  },
};

describe("rig profiles against the documented bone names", () => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith(".txt"));
  const results = detect(files.map((f) => ({ bones: readBones(f) })));
  const byFile = new Map(files.map((f, i) => [f, results[i]!]));

  it("has an expectation for every fixture", () => {
    expect(files.sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  for (const [file, expected] of Object.entries(EXPECTED)) {
    it(`${file}: detected as ${expected.profile}, every required joint, sides as named`, () => {
      const result = byFile.get(file)!;
      expect(result.error).toBeUndefined();
      expect(result.profile).toBe(expected.profile);
      expect(result.score).toBe(1);
      expect(result.joints).toMatchObject(expected.joints);
      // our left = the character's left: every left_ joint is a left bone in the tool's spelling
      for (const [joint, side] of Object.entries(result.sides!)) {
        if (joint.startsWith("left_"))
          expect(side, `${joint} ${result.joints![joint]}`).toBe("left");
        if (joint.startsWith("right_"))
          expect(side, `${joint} ${result.joints![joint]}`).toBe("right");
      }
    });
  }

  it("a user profile named like a built-in one replaces only the joints it gives", () => {
    const bones = readBones("daz-genesis8.txt").map((b) => (b === "lHand" ? "lWrist_custom" : b));
    const [plain, extended] = detect([
      { bones },
      { bones, profiles: { daz: { left_wrist: "lWrist_.*" } } },
    ]);
    expect(plain!.error).toMatch(/Closest profile: daz \(12 of 13 required joints/);
    expect(plain!.error).toMatch(/it lacks: left_wrist\./);
    expect(extended!.profile).toBe("daz");
    expect(extended!.joints).toMatchObject({
      left_wrist: "lWrist_custom",
      left_elbow: "lForearmBend",
    });
  });

  it("rigs.assign forces a profile, and says what it lacks when it does not fit", () => {
    const [forced, misfit] = detect([
      { bones: readBones("mpfb-game-engine.txt"), assign: "unreal" },
      { bones: readBones("mixamo.txt"), assign: "cc" },
    ]);
    expect(forced!.profile).toBe("unreal");
    expect(misfit!.error).toMatch(/does not fit the profile 'cc' that rigs.assign gives it/);
  });
});
