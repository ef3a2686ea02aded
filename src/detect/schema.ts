/**
 * The two JSON files detection and evaluation meet on:
 *  - annotations.json (written by Blender): COCO keypoints plus posefactory's extras;
 *  - detections/<character>/<clip>/<view>/fNNNN.json (written by either detector backend).
 * blender/detect_pose.py writes the same detection shape; test/ checks both against this.
 */
import { z } from "zod";

const vec3 = z.tuple([z.number(), z.number(), z.number()]);
const mat3 = z.tuple([vec3, vec3, vec3]);

/** Flat [x, y, v, x, y, v, ...] as in COCO; x, y in pixels, top-left origin. */
const flatKeypoints = (n: number) => z.array(z.number()).length(n * 3);

export const cocoImageSchema = z.object({
  id: z.number().int(),
  /** Relative to the folder of annotations.json: <clip>/<view>/f0001.png */
  file_name: z.string(),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  clip: z.string(),
  view: z.string(),
  frame: z.number().int(),
  /** This image's camera (follow framing moves it every frame); OpenCV convention. */
  camera: z.object({ K: mat3, R: mat3, t: vec3 }),
  /** What was drawn for this image (cameras.jitter, scene): `{camera: {...}, ...}`. */
  scene: z.record(z.string(), z.unknown()).optional(),
});

export const cocoAnnotationSchema = z.object({
  id: z.number().int(),
  image_id: z.number().int(),
  category_id: z.literal(1),
  iscrowd: z.literal(0),
  keypoints: flatKeypoints(17),
  num_keypoints: z.number().int().min(0).max(17),
  bbox: z.tuple([z.number(), z.number(), z.number(), z.number()]),
  area: z.number().nonnegative(),
  /** Extra: MediaPipe's 33 landmarks, flat [x, y, v] * 33, same pixel convention. */
  keypoints_mediapipe: flatKeypoints(33),
  /** Extra: the 33 landmarks in world space (metres, Blender world: z up). */
  keypoints_3d: z.array(vec3).length(33),
});

export const annotationsSchema = z.object({
  info: z.object({ description: z.string(), version: z.string() }).passthrough(),
  licenses: z.array(z.unknown()).optional(),
  categories: z
    .array(
      z.object({
        id: z.literal(1),
        name: z.literal("person"),
        supercategory: z.string(),
        keypoints: z.array(z.string()).length(17),
        skeleton: z.array(z.tuple([z.number(), z.number()])),
      }),
    )
    .length(1),
  images: z.array(cocoImageSchema),
  annotations: z.array(cocoAnnotationSchema),
  /** Extra: the 33 MediaPipe landmark names, in order. */
  mediapipe_landmarks: z.array(z.string()).length(33),
  character: z.string(),
});

export type Annotations = z.infer<typeof annotationsSchema>;
export type CocoImage = z.infer<typeof cocoImageSchema>;
export type CocoAnnotation = z.infer<typeof cocoAnnotationSchema>;

export const landmarkSchema = z.object({
  /** Normalized to [0,1] by image width/height (may fall outside). */
  x: z.number(),
  y: z.number(),
  z: z.number(),
  /** Pixels, top-left origin. */
  px: z.number(),
  py: z.number(),
  visibility: z.number(),
  presence: z.number(),
});

export const worldLandmarkSchema = z.object({
  x: z.number(),
  y: z.number(),
  z: z.number(),
  visibility: z.number(),
  presence: z.number(),
});

export const detectionSchema = z.object({
  version: z.literal(1),
  /** Relative to the run folder: renders/<character>/<clip>/<view>/f0001.png */
  image: z.string(),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  backend: z.enum(["web", "python"]),
  model: z.object({ name: z.string(), version: z.string(), sha256: z.string().optional() }),
  /** false = the detector ran and found no pose (not an error). */
  found: z.boolean(),
  poses: z.array(
    z.object({
      landmarks: z.array(landmarkSchema).length(33),
      worldLandmarks: z.array(worldLandmarkSchema).length(33),
    }),
  ),
  seconds: z.number().nonnegative(),
});

export type Detection = z.infer<typeof detectionSchema>;
