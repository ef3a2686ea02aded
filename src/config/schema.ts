/**
 * The one source of truth for posefactory.yaml. Input type = the raw file; output type =
 * the normalized config with every default filled in.
 *
 * How to add a key:
 *   1. add it here with a default (`.default(...)`) and a `.describe()` line;
 *   2. add it, commented, with its default, to config.example.yaml (a test loads that file);
 *   3. if an environment variable should set it, add it to ENV_KEYS in load.ts;
 *   4. if it changes rendered pixels, add it to the render cache key in pipeline/.
 */
import { z } from "zod";
import { rigsSchema } from "./rigs.js";

const positiveInt = z.number().int().positive();

export const FS_STORAGE_DEFAULT_PATH = ".posefactory/storage";

export const fsStorageSchema = z.strictObject({
  type: z.literal("fs"),
  path: z.string().min(1).default(FS_STORAGE_DEFAULT_PATH).describe("local folder used as storage"),
  prefix: z.string().default(""),
});

export const s3StorageSchema = z.strictObject({
  type: z.literal("s3"),
  endpoint: z
    .url()
    .optional()
    .describe("https://<account-id>.r2.cloudflarestorage.com for R2; empty for AWS"),
  bucket: z.string().min(3),
  prefix: z
    .string()
    .default("posefactory/")
    .refine((p) => p === "" || p.endsWith("/"), "prefix must be empty or end with '/'"),
  region: z.string().default("auto"),
  forcePathStyle: z.boolean().default(true),
  credentialsFile: z
    .string()
    .optional()
    .describe("file with ACCESS_KEY_ID=... and SECRET_ACCESS_KEY=... lines, mode 600"),
});

export const storageSchema = z.discriminatedUnion("type", [fsStorageSchema, s3StorageSchema]);

export const hostKeyPolicySchema = z.union([
  z.literal("strict"),
  z.literal("accept-new"),
  z
    .string()
    .regex(/^SHA256:[A-Za-z0-9+/]{43}$/, "a pinned fingerprint looks like SHA256:<43 chars>"),
]);

/**
 * A target's Blender: an executable (`blender`, run with --background --python), or
 * `{launcher: module, path: <python>}` for Blender as a Python module (the `bpy` wheel in a
 * venv, what `setup-pod` installs). src/render/launcher.ts builds both command lines.
 */
export const blenderSettingSchema = z
  .union([
    // The object first: a wrong key in it is then the error shown (load.ts shows the closest branch).
    z.strictObject({
      launcher: z
        .enum(["binary", "module"])
        .default("binary")
        .describe("binary: a Blender executable; module: a Python that can `import bpy`"),
      path: z.string().min(1).describe("the Blender executable, or the Python with bpy"),
    }),
    z.string().min(1),
  ])
  .default("blender")
  .describe("Blender executable, or {launcher: module, path: <python with bpy>}");

export const localTargetSchema = z.strictObject({
  executor: z.literal("local"),
  storage: storageSchema.default({ type: "fs", path: FS_STORAGE_DEFAULT_PATH, prefix: "" }),
  workdir: z.string().default(".posefactory/work").describe("where jobs run and keep logs"),
  blender: blenderSettingSchema,
  python: z.string().default("python3"),
  costPerHour: z.number().nonnegative().optional(),
});

export const sshTargetSchema = z.strictObject({
  executor: z.literal("ssh"),
  host: z.string().min(1).describe("hostname, IP, or a Host alias from ~/.ssh/config"),
  port: positiveInt.max(65535).optional(),
  user: z.string().optional(),
  identityFile: z.string().optional(),
  hostKey: hostKeyPolicySchema.default("accept-new"),
  hostKeyAlias: z
    .string()
    .optional()
    .describe("record the host key under this name instead of host:port (OpenSSH's HostKeyAlias)"),
  workdir: z.string().default("/workspace/posefactory"),
  blender: blenderSettingSchema,
  python: z.string().default("python3"),
  connectTimeoutSeconds: z.number().positive().default(120),
  costPerHour: z.number().nonnegative().optional().describe("USD per hour, for the run's cost"),
  storage: storageSchema,
});

/** The login node of a Slurm cluster, reached like an ssh target (absent: run Slurm's commands here). */
export const slurmSshSchema = z.strictObject({
  host: z.string().min(1).describe("login node: hostname, IP, or a Host alias from ~/.ssh/config"),
  port: positiveInt.max(65535).optional(),
  user: z.string().optional(),
  identityFile: z.string().optional(),
  hostKey: hostKeyPolicySchema.default("accept-new"),
});

export const slurmTargetSchema = z.strictObject({
  executor: z.literal("slurm"),
  ssh: slurmSshSchema.optional(),
  workdir: z.string().min(1).describe("a folder on the cluster's shared filesystem"),
  partition: z.string().min(1).optional(),
  account: z.string().min(1).optional(),
  qos: z.string().min(1).optional(),
  gpusPerTask: z.number().int().nonnegative().default(1).describe("GPUs per array task (GRES)"),
  cpusPerTask: positiveInt.optional(),
  memPerTask: z
    .string()
    .regex(/^\d+[KMGT]?$/, "memory like 16G or 16000 (MB)")
    .optional(),
  timeLimit: z
    .string()
    .regex(/^(\d+-)?\d+(:\d+){0,2}$/, "Slurm time like 90, 02:00:00 or 1-12")
    .optional()
    .describe("per task; a task about to hit it pushes what it has"),
  maxConcurrent: positiveInt.optional().describe("tasks running at once (the array's %M)"),
  maxShards: positiveInt.default(16).describe("at most this many array tasks per run"),
  sbatchArgs: z.array(z.string()).default([]).describe("extra sbatch arguments, as given"),
  setup: z.array(z.string()).default([]).describe("shell lines run first in every task"),
  blender: z.string().default("blender"),
  python: z.string().default("python3"),
  storage: storageSchema,
});

/** RunPod's official base image: sshd (started from PUBLIC_KEY), Python, CUDA. */
export const RUNPOD_DEFAULT_IMAGE = "runpod/base:1.0.2-cuda1281-ubuntu2204";

export const runpodTargetSchema = z
  .strictObject({
    executor: z.literal("runpod"),
    gpuTypes: z
      .array(z.string().min(1))
      .min(1)
      .default(["NVIDIA A40", "NVIDIA RTX A6000"])
      .describe("GPU type ids in order of preference (RunPod's catalog ids)"),
    gpuCount: positiveInt.default(1),
    cloud: z.enum(["SECURE", "COMMUNITY"]).default("SECURE"),
    dataCenters: z
      .array(z.string().min(1))
      .default([])
      .describe("data center ids in order of preference; empty: any"),
    image: z.string().min(1).default(RUNPOD_DEFAULT_IMAGE),
    diskGb: positiveInt.default(50).describe("container disk (GB), wiped when the pod stops"),
    volumeGb: z.number().int().min(10).optional().describe("persistent volume at /workspace (GB)"),
    networkVolumeId: z
      .string()
      .min(1)
      .optional()
      .describe("a network volume mounted at /workspace"),
    workdir: z.string().default("/workspace/posefactory"),
    maxCostPerHour: z.number().positive().default(1).describe("USD per hour: refuse pods above it"),
    maxRunCost: z.number().positive().default(10).describe("USD: stop a run past it"),
    lifetime: z
      .enum(["run", "keep"])
      .default("run")
      .describe("run: terminate when the run ends; keep: leave it up for the next run"),
    idleMinutes: z
      .number()
      .positive()
      .default(20)
      .describe("the pod stops itself after this long without a job or a client"),
    maxHours: z.number().positive().default(6).describe("hard cap on a pod's life"),
    startTimeoutMinutes: z.number().positive().default(15),
    setup: z.enum(["auto", "skip"]).default("auto").describe("auto: run setup-pod when needed"),
    blender: z.string().default("blender"),
    python: z.string().default("python3"),
    credentialsFile: z
      .string()
      .optional()
      .describe("file with a RUNPOD_API_KEY=... line, mode 600 (else $RUNPOD_API_KEY)"),
    storage: storageSchema,
  })
  .refine((t) => !(t.volumeGb !== undefined && t.networkVolumeId !== undefined), {
    message: "give volumeGb or networkVolumeId, not both",
    path: ["networkVolumeId"],
  });

export const targetSchema = z.discriminatedUnion("executor", [
  localTargetSchema,
  sshTargetSchema,
  runpodTargetSchema,
  slurmTargetSchema,
]);

/** `[min, max]`: a value is drawn uniformly from it (min = max: that value). */
const range = (what: string) =>
  z
    .tuple([z.number(), z.number()])
    .refine(
      ([lo, hi]) => lo <= hi,
      `${what}: the first value (min) must not exceed the second (max)`,
    );

export const jitterSchema = z.strictObject({
  distance: range("distance")
    .refine(([lo]) => lo > 0, "distance: multipliers of the fitted distance must be > 0")
    .optional()
    .describe("multiplier of the fitted distance, e.g. [0.9, 1.6]"),
  lensMm: range("lensMm").optional().describe("added to lensMm, e.g. [-15, 35]"),
  heightM: range("heightM").optional().describe("camera moved up/down (m), e.g. [-0.3, 0.3]"),
  rollDeg: range("rollDeg").optional(),
  azimuthDeg: range("azimuthDeg").optional().describe("added to each azimuth"),
  elevationDeg: range("elevationDeg").optional().describe("added to each elevation"),
});

export const sceneSchema = z.strictObject({
  seed: z.number().int().min(0).default(0).describe("same seed + same inputs = same draws"),
  backgrounds: z
    .string()
    .optional()
    .describe(".hdr/.exr (world light + background) and .jpg/.png (behind); absent: a random sky"),
  lights: z
    .strictObject({
      count: range("count").default([1, 2]),
      energy: range("energy").default([1, 4]).describe("sun strength (W/m2)"),
      temperatureK: range("temperatureK").default([3500, 7500]),
      elevationDeg: range("elevationDeg").default([20, 70]),
      azimuthDeg: range("azimuthDeg").default([-180, 180]).describe("relative to the front"),
    })
    .default({
      count: [1, 2],
      energy: [1, 4],
      temperatureK: [3500, 7500],
      elevationDeg: [20, 70],
      azimuthDeg: [-180, 180],
    }),
  appearance: z
    .strictObject({
      hue: range("hue").default([-0.05, 0.05]).describe("shift, 1 = a full turn"),
      saturation: range("saturation").default([0.8, 1.2]).describe("factor"),
      value: range("value").default([0.8, 1.2]).describe("factor"),
    })
    .optional(),
  occluders: z
    .strictObject({
      probability: z.number().min(0).max(1).default(0.3),
      sizeM: range("sizeM").default([0.2, 0.6]),
    })
    .optional(),
});

export const camerasSchema = z.strictObject({
  azimuthsDeg: z.array(z.number()).min(1).default([0, 45, 90, 135, 180, 225, 270, 315]),
  elevationsDeg: z.array(z.number().min(-89).max(89)).min(1).default([10]),
  lensMm: z.number().positive().default(50),
  sensorMm: z.number().positive().default(36),
  margin: z.number().min(0).max(0.45).default(0.05).describe("fraction of the frame kept free"),
  framing: z.enum(["follow", "static"]).default("follow"),
  bbox: z
    .enum(["fast", "exact"])
    .default("fast")
    .describe("clip bounding box: fast (armature only, always contains exact) or exact (skinned)"),
  distanceM: z.number().positive().optional().describe("fixed rig: camera distance (m)"),
  heightM: z.number().optional().describe("fixed rig: camera height above ground (m)"),
  jitter: jitterSchema.optional().describe("per-image random camera changes (seed: scene.seed)"),
  truncation: z
    .number()
    .min(0)
    .max(1)
    .default(0)
    .describe("share of images whose camera may cut the body (joints outside get v = 0)"),
});

export const framesSchema = z.union([
  z.strictObject({ step: positiveInt.default(10) }),
  z.strictObject({ list: z.array(z.number().int().nonnegative()).min(1) }),
]);

export const renderSchema = z.strictObject({
  engine: z
    .enum(["CYCLES", "BLENDER_EEVEE", "BLENDER_EEVEE_NEXT", "BLENDER_WORKBENCH"])
    .default("CYCLES"),
  device: z.enum(["auto", "gpu", "cpu"]).default("auto"),
  samples: positiveInt.default(32),
  resolution: z.tuple([positiveInt, positiveInt]).default([512, 512]),
  transparent: z.boolean().default(true),
});

export const outputsSchema = z.strictObject({
  rgb: z.boolean().default(true),
  mask: z.boolean().default(false),
  depth: z.boolean().default(false),
  normals: z.boolean().default(false),
  keypoints: z.boolean().default(true),
});

export const detectSchema = z.strictObject({
  enabled: z.boolean().default(true),
  backend: z
    .enum(["auto", "web", "python"])
    .default("auto")
    .describe("auto: python on ssh, web locally"),
  model: z.enum(["lite", "full", "heavy"]).default("full"),
  models: z
    .array(z.enum(["lite", "full", "heavy"]))
    .min(1)
    .optional()
    .describe(
      "further models run on the same images (either backend), each into detections-<model>/; evaluation.json compares them",
    ),
  modelPath: z.string().optional().describe("a pose_landmarker .task file to use instead"),
  delegate: z.enum(["cpu", "gpu"]).default("cpu"),
  minPoseDetectionConfidence: z.number().min(0).max(1).default(0.5),
  minPosePresenceConfidence: z.number().min(0).max(1).default(0.5),
  browser: z.string().optional().describe("Chrome/Chromium executable for the web backend"),
});

export const syncSchema = z.strictObject({
  concurrency: positiveInt.max(64).default(8),
  partSizeMb: positiveInt.min(5).default(16),
});

export const configSchema = z.strictObject({
  version: z.literal(1).default(1),
  target: z
    .string()
    .default("local")
    .describe("name of the target used when --target is not given"),
  characters: z.string().default("characters").describe("folder of .fbx/.glb/.gltf/.blend files"),
  data: z.string().default("data").describe("where runs are downloaded: data/runs/<runId>/"),
  clips: z.array(z.string()).default([]).describe("animation names to render; empty = all"),
  animations: z
    .string()
    .optional()
    .describe(
      "folder of animation files (Mixamo-named armature) applied to every matching character",
    ),
  targets: z.record(z.string(), targetSchema).default({}),
  cameras: camerasSchema.default(camerasSchema.parse({})),
  scene: sceneSchema.optional().describe("randomized backgrounds, lights, appearance, occluders"),
  frames: framesSchema.default({ step: 10 }),
  render: renderSchema.default(renderSchema.parse({})),
  outputs: outputsSchema.default(outputsSchema.parse({})),
  detect: detectSchema.default(detectSchema.parse({})),
  sync: syncSchema.default(syncSchema.parse({})),
  rigs: rigsSchema
    .default({ profiles: {}, assign: {} })
    .describe("rig profiles for skeletons that are not Mixamo/Rigify/MPFB/DAZ/CC/Unreal/VRM"),
});

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type TargetConfig = z.output<typeof targetSchema>;
export type LocalTargetConfig = z.output<typeof localTargetSchema>;
export type SshTargetConfig = z.output<typeof sshTargetSchema>;
export type RunpodTargetConfig = z.output<typeof runpodTargetSchema>;
export type SlurmTargetConfig = z.output<typeof slurmTargetSchema>;
export type StorageConfig = z.output<typeof storageSchema>;
export type S3StorageConfig = z.output<typeof s3StorageSchema>;
export type FsStorageConfig = z.output<typeof fsStorageSchema>;

/** The target every config has, even when the file names none. */
export const DEFAULT_LOCAL_TARGET: LocalTargetConfig = localTargetSchema.parse({
  executor: "local",
});

/** A resolved config: the file's values plus which target this command uses. */
export interface ResolvedConfig {
  config: Config;
  /** Absolute path of the config file, or undefined when running on defaults. */
  path: string | undefined;
  /** Folder relative paths in the config are resolved against. */
  baseDir: string;
  targetName: string;
  target: TargetConfig;
}
