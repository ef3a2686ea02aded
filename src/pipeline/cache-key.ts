/**
 * Cache keys: a character's render is reusable when its file, the render-relevant config and
 * the Blender scripts are all unchanged. Keys are sha256 over canonical JSON, so key order in
 * the YAML never matters.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { hasRigs } from "../config/rigs.js";
import type { Config } from "../config/schema.js";

/** JSON with object keys sorted at every level. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

export function sha256Hex(text: string | Buffer): string {
  return createHash("sha256").update(text).digest("hex");
}

/** The config keys that change rendered pixels or annotations (not paths, targets, sync). */
export function renderRelevantConfig(config: Config): unknown {
  return {
    cameras: config.cameras,
    frames: config.frames,
    render: config.render,
    outputs: config.outputs,
    clips: config.clips,
    // scene randomization and animations; absent when unused, so older keys stay valid
    ...(config.scene ? { scene: config.scene } : {}),
    ...(config.animations ? { animations: config.animations } : {}),
    // rig profiles change the annotations; absent when unused, so older keys stay valid
    ...(hasRigs(config.rigs) ? { rigs: config.rigs } : {}),
  };
}

export function detectRelevantConfig(config: Config): unknown {
  const { backend, model, modelPath, minPoseDetectionConfidence, minPosePresenceConfidence } =
    config.detect;
  // detect.models (host detection writes detections-<model>/ too); absent when unused, so older
  // keys stay valid.
  const models = config.detect.models?.filter((m) => m !== model);
  return {
    backend,
    model,
    modelPath,
    minPoseDetectionConfidence,
    minPosePresenceConfidence,
    ...(models?.length ? { models: [...new Set(models)].sort() } : {}),
  };
}

/**
 * sha256 over every file below `dir` (relative name and content), ignoring caches and the
 * top-level folders in `skip` (blender/host/: the host's job scripts change no pixels).
 */
export function hashFolder(dir: string, skip: string[] = []): string {
  const hash = createHash("sha256");
  const walk = (d: string): string[] =>
    readdirSync(d, { withFileTypes: true })
      .filter(
        (e) =>
          !e.name.startsWith(".") &&
          e.name !== "__pycache__" &&
          !(d === dir && skip.includes(e.name)),
      )
      .flatMap((e) =>
        e.isDirectory() ? walk(join(d, e.name)) : e.name.endsWith(".pyc") ? [] : [join(d, e.name)],
      );
  for (const file of walk(dir).sort()) {
    hash.update(relative(dir, file)).update("\0").update(readFileSync(file)).update("\0");
  }
  return hash.digest("hex");
}

export function renderKey(characterSha256: string, config: Config, blenderHash: string): string {
  return sha256Hex(
    canonicalJson({
      v: 1,
      character: characterSha256,
      render: renderRelevantConfig(config),
      blender: blenderHash,
    }),
  );
}

export function configHash(config: Config): string {
  return sha256Hex(canonicalJson(config));
}
