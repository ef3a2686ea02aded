/**
 * manifest.json, written by blender/render.py and read here: the only channel from Blender
 * back to TypeScript (never stdout). Validated with zod so a Blender-side change that breaks
 * the contract fails loudly with the key path.
 */
import { z } from "zod";

const vec3 = z.tuple([z.number(), z.number(), z.number()]);
const mat3 = z.tuple([vec3, vec3, vec3]);

export const cameraSchema = z.object({
  id: z.string(),
  azimuthDeg: z.number(),
  elevationDeg: z.number(),
  distanceM: z.number(),
  K: mat3,
  R: mat3,
  t: vec3,
});

export const clipSchema = z.object({
  /** Folder-safe slug of the clip's name: renders/<character>/<name>/... */
  name: z.string(),
  /** The clip's name as in the file (e.g. glTF's `Armature|mixamo.com|Layer0`). */
  displayName: z.string().optional(),
  frameRange: z.tuple([z.number(), z.number()]),
  frames: z.array(z.number()).optional(),
  bbox: z.object({ min: vec3, max: vec3 }),
  bboxEvaluations: z.number().int(),
  /** How the box was measured: "fast" (armature only) or "exact" (job.json cameras.bbox). */
  bboxMode: z.enum(["fast", "exact"]).optional(),
  /**
   * World azimuth this clip's cameras are relative to: the character's `facingDeg` (rest pose),
   * unless the whole clip faces another way (blender facing.py clip_facing).
   */
  facingDeg: z.number().optional(),
  /** Why "fast" was asked for and "exact" used (a mesh the fast box cannot follow). */
  bboxFallback: z.string().optional(),
  /**
   * How the fast method found the armature's pose per frame: "computed" (bbox.py via
   * poses.py, no scene evaluation) or "by Blender (<why>)".
   */
  bboxPoses: z.string().optional(),
  /**
   * How the fast method read the skinned meshes' vertex weights: "nodes" (through a geometry
   * node group, Blender 4+ on large meshes), "vertices" (vertex by vertex), or both joined by "+".
   */
  bboxWeights: z.string().optional(),
  framing: z.enum(["follow", "static"]).optional(),
  cameras: z.array(cameraSchema),
});

export const imageSchema = z.object({
  /** Relative to the run folder: renders/<character>/<clip>/<view>/f0001.png */
  path: z.string(),
  clip: z.string(),
  camera: z.string(),
  frame: z.number().int(),
});

/** Which rig profile (blender/posefactory_bpy/rigs.py) read the character's joints. */
export const rigMatchSchema = z.object({
  profile: z.string(),
  /** Share of the profile's required joints found (1 when it was used). */
  score: z.number(),
  /** Our joint names -> the character's bone names. */
  mappedBones: z.record(z.string(), z.string()),
});

export const characterResultSchema = z.object({
  /** Folder-safe slug: renders/<name>/... */
  name: z.string(),
  /** As in the file name. */
  displayName: z.string().optional(),
  file: z.string().optional(),
  status: z.enum(["ok", "failed"]),
  error: z.string().optional(),
  /**
   * World azimuth of the character's front, from the rig's rest pose (blender facing.py; 0 =
   * facing -Y, counter-clockwise from above). `cameras.azimuthsDeg` are relative to it.
   */
  facingDeg: z.number().optional(),
  seconds: z.object({
    import: z.number(),
    bbox: z.number(),
    cameras: z.number(),
    render: z.number(),
  }),
  clips: z.array(clipSchema),
  images: z.array(imageSchema),
  /** Relative path of annotations.json (renders/<character>/annotations.json), when written. */
  annotations: z.string().nullable().optional(),
  /** The rig profile used; absent when the rig is unknown (then `error` says how to map it). */
  rig: rigMatchSchema.optional(),
  /** config `animations`: every file, applied as a clip or skipped with the reason. */
  animations: z
    .array(
      z.object({
        file: z.string(),
        clip: z.string(),
        status: z.enum(["applied", "skipped"]),
        reason: z.string().optional(),
      }),
    )
    .optional(),
  /** Problems that did not stop the character, e.g. a fixed camera rig that crops it. */
  warnings: z.array(z.string()).optional(),
});

export const manifestSchema = z.object({
  version: z.literal(1),
  runId: z.string().optional(),
  blenderVersion: z.string(),
  device: z.object({ type: z.string(), names: z.array(z.string()) }),
  characters: z.array(characterResultSchema),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type CharacterResult = z.infer<typeof characterResultSchema>;
export type RigMatch = z.infer<typeof rigMatchSchema>;
export type CameraInfo = z.infer<typeof cameraSchema>;
