/** job.json, TypeScript -> Blender (DESIGN.md). blender/render.py reads exactly this. */
import { z } from "zod";

export const jobSchema = z.object({
  version: z.literal(1),
  runId: z.string(),
  characters: z.array(
    z.object({
      /** Folder-safe slug: renders/<name>/... */
      name: z.string(),
      /** As in the file name, when it differs from `name`. */
      displayName: z.string().optional(),
      /** Path of the character file on the render host (absolute or relative to the job's cwd). */
      file: z.string(),
      sha256: z.string(),
      clips: z.array(z.string()).optional(),
    }),
  ),
  frames: z.union([
    z.object({ step: z.number().int().positive() }),
    z.object({ list: z.array(z.number().int()) }),
  ]),
  cameras: z.object({
    azimuthsDeg: z.array(z.number()),
    elevationsDeg: z.array(z.number()),
    lensMm: z.number(),
    sensorMm: z.number(),
    margin: z.number(),
    framing: z.enum(["follow", "static"]),
    /** Bounding-box method (blender/posefactory_bpy/bbox.py); Blender takes "fast" when absent. */
    bbox: z.enum(["fast", "exact"]).optional(),
    distanceM: z.number().optional(),
    heightM: z.number().optional(),
    jitter: z.record(z.string(), z.tuple([z.number(), z.number()])).optional(),
    truncation: z.number().optional(),
  }),
  /** Folder of animation files applied to every matching character (on the render host). */
  animations: z.string().optional(),
  /** Scene randomization (config `scene`; backgrounds: a folder on the render host). */
  scene: z
    .object({
      seed: z.number().int(),
      backgrounds: z.string().optional(),
      lights: z.record(z.string(), z.tuple([z.number(), z.number()])),
      appearance: z.record(z.string(), z.tuple([z.number(), z.number()])).optional(),
      occluders: z
        .object({ probability: z.number(), sizeM: z.tuple([z.number(), z.number()]) })
        .optional(),
    })
    .optional(),
  render: z.object({
    engine: z.string(),
    device: z.enum(["auto", "gpu", "cpu"]),
    samples: z.number().int(),
    resolution: z.tuple([z.number().int(), z.number().int()]),
    transparent: z.boolean(),
  }),
  outputs: z.object({
    rgb: z.boolean(),
    mask: z.boolean(),
    depth: z.boolean(),
    normals: z.boolean(),
    keypoints: z.boolean(),
  }),
  /** Run folder on the render host; renders/ and manifest.json go below it. */
  outDir: z.string(),
  /** `rigs` of the config (src/config/rigs.ts), read by blender/posefactory_bpy/rigs.py. */
  rigs: z
    .object({
      profiles: z.record(z.string(), z.record(z.string(), z.string())),
      assign: z.record(z.string(), z.string()),
    })
    .optional(),
  /** Benchmark only (test/bench/render.ts): recompute the bounding box once per camera. */
  bench: z.object({ bboxPerCamera: z.boolean() }).optional(),
});

export type Job = z.infer<typeof jobSchema>;
