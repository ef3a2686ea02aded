/**
 * `rigs:` in posefactory.yaml: user rig profiles and per-character profile choices, read in
 * Blender by blender/posefactory_bpy/rigs.py (which holds the built-in profiles).
 *
 *   rigs:
 *     profiles:
 *       myrig: { hips: pelvis_jnt, left_shoulder: L_arm_jnt, left_wrist: "L_hand.*", ... }
 *     assign:
 *       "Anna": myrig        # or a built-in profile: mixamo, rigify, mpfb, daz, cc, unreal, vrm
 */
import { z } from "zod";
import { suggestKey } from "./suggest.js";

/** Our joint names (rigs.py JOINTS): the bone whose head is the joint. */
export const REQUIRED_RIG_JOINTS = [
  "head",
  "left_shoulder",
  "right_shoulder",
  "left_elbow",
  "right_elbow",
  "left_wrist",
  "right_wrist",
  "left_hip",
  "right_hip",
  "left_knee",
  "right_knee",
  "left_ankle",
  "right_ankle",
] as const;
export const OPTIONAL_RIG_JOINTS = [
  "hips",
  "spine",
  "neck",
  "head_top",
  "left_eye",
  "right_eye",
  "left_toe",
  "right_toe",
  "left_toe_end",
  "right_toe_end",
  "left_index",
  "right_index",
  "left_pinky",
  "right_pinky",
  "left_thumb",
  "right_thumb",
] as const;
export const RIG_JOINTS: readonly string[] = [...REQUIRED_RIG_JOINTS, ...OPTIONAL_RIG_JOINTS];
export const BUILTIN_RIG_PROFILES = [
  "mixamo",
  "rigify",
  "mpfb",
  "daz",
  "cc",
  "unreal",
  "vrm",
] as const;

// Characters besides `.` that make an entry a regular expression rather than a plain name.
const REGEX_CHARS = /[*+?()[\]{}|^$\\]/;

const jointMapSchema = z
  .record(z.string(), z.string().min(1, "give a bone name or a regular expression"))
  .superRefine((map, ctx) => {
    for (const [joint, bone] of Object.entries(map)) {
      if (!RIG_JOINTS.includes(joint)) {
        const suggestion = suggestKey(joint, RIG_JOINTS);
        ctx.addIssue({
          code: "custom",
          path: [joint],
          message: `unknown joint \`${joint}\`${suggestion ? ` (did you mean \`${suggestion}\`?)` : ""}; joints are ${RIG_JOINTS.join(", ")}`,
        });
      }
      if (REGEX_CHARS.test(bone)) {
        try {
          new RegExp(bone);
        } catch (error) {
          ctx.addIssue({
            code: "custom",
            path: [joint],
            message: `\`${bone}\` is not a valid regular expression (${(error as Error).message})`,
          });
        }
      }
    }
  });

export const rigsSchema = z
  .strictObject({
    profiles: z
      .record(
        z.string().regex(/^[A-Za-z0-9_-]+$/, "a profile name is letters, digits, _ and -"),
        jointMapSchema,
      )
      .default({})
      .describe("profile name -> {joint: bone name or regular expression}"),
    assign: z
      .record(z.string(), z.string())
      .default({})
      .describe("character name -> profile (forces it instead of detection)"),
  })
  .superRefine((rigs, ctx) => {
    const known = [...BUILTIN_RIG_PROFILES, ...Object.keys(rigs.profiles)];
    for (const [character, profile] of Object.entries(rigs.assign)) {
      if (known.includes(profile)) continue;
      const suggestion = suggestKey(profile, known);
      ctx.addIssue({
        code: "custom",
        path: ["assign", character],
        message: `unknown rig profile \`${profile}\`${suggestion ? ` (did you mean \`${suggestion}\`?)` : ""}; profiles are ${known.join(", ")}`,
      });
    }
  });

export type RigsConfig = z.output<typeof rigsSchema>;

/** Whether there are rig profiles or assignments (job.json carries them only then). */
export function hasRigs(rigs: RigsConfig): boolean {
  return Object.keys(rigs.profiles).length > 0 || Object.keys(rigs.assign).length > 0;
}

/** A warning for each `rigs.assign` entry that names no character (a typo would go unnoticed). */
export function unusedAssignments(rigs: RigsConfig, characters: readonly string[]): string[] {
  return Object.keys(rigs.assign)
    .filter((name) => !characters.includes(name))
    .map((name) => {
      const suggestion = suggestKey(name, characters);
      return `rigs.assign names \`${name}\`, which is no character of this run${suggestion ? ` (did you mean \`${suggestion}\`?)` : ""}; a character is its file name without the extension`;
    });
}
