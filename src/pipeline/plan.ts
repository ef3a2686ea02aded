/** Planning a run: its id, the characters, which of them an earlier render serves. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { resolveUserPath } from "../config/credentials.js";
import { unusedAssignments } from "../config/rigs.js";
import type { TargetConfig } from "../config/schema.js";
import type { Context } from "../context.js";
import { UsageError, UserError } from "../errors.js";
import { createJobRunner } from "../jobs/index.js";
import { listCharacterFiles } from "../render/job.js";
import { BLENDER_DIR } from "../render/sample.js";
import { createRunId, parseRunId } from "../run/id.js";
import { annotationsPath, hostRunDir, localRunDir, localRunsDir } from "../run/paths.js";
import { SyncCache } from "../storage/hash.js";
import { VERSION } from "../version.js";
import {
  canonicalJson,
  detectRelevantConfig,
  hashFolder,
  renderKey,
  sha256Hex,
} from "./cache-key.js";
import { type CacheIndex, readCacheIndex } from "./reuse.js";
import { type RunRecord, readRunRecord } from "./run-record.js";
import {
  detectPlace,
  type PipelineOptions,
  type PlannedCharacter,
  STEPS,
  type State,
} from "./state.js";

export async function planRun(options: PipelineOptions, ctx: Context): Promise<State> {
  const { config, target, targetName, baseDir } = ctx.resolved;
  if ((target.executor === "ssh" || target.executor === "slurm") && target.storage.type !== "s3") {
    throw new UsageError(
      `Target \`${targetName}\` runs over ${target.executor} but its storage is a local folder the host cannot reach: give it \`storage: {type: s3, ...}\``,
    );
  }
  const dataDir = resolveUserPath(config.data, baseDir);
  const stateDir = join(baseDir, ".posefactory");
  const detect = detectPlace(config, target);
  // Checked before anything reads the disk: a run id becomes a path.
  const resumeId = options.resume === undefined ? undefined : parseRunId(options.resume);
  const newId = options.runId === undefined ? undefined : parseRunId(options.runId);
  const previous = resumeId ? readRunRecord(dataDir, resumeId) : undefined;
  if (resumeId && !previous) {
    throw new UsageError(
      `No run ${resumeId} in ${localRunsDir(dataDir)}: see \`posefactory runs\``,
    );
  }
  const runId = previous?.runId ?? newId ?? createRunId();

  const charactersDir = resolveUserPath(config.characters, baseDir);
  // The hash cache `upload` keeps: a character hashed once (for its render key) is not read
  // again, neither on the next run nor by this run's upload.
  const hashCache = await SyncCache.open(stateDir);
  const files = await listCharacterFiles(charactersDir, (file, size, mtimeMs) =>
    hashCache.hash(file, size, mtimeMs, ctx.signal),
  );
  // Only a cache: a folder it cannot be written to costs the next run the hashing, not this run.
  await hashCache
    .save()
    .catch((error: Error) => ctx.logger.debug(`hash cache not saved: ${error.message}`));
  if (files.length === 0) {
    throw new UserError(
      `No character files (.fbx, .glb, .gltf, .blend) in ${charactersDir}: add some, or run \`posefactory sample\``,
    );
  }
  for (const warning of unusedAssignments(
    config.rigs,
    files.flatMap((f) => [f.name, f.displayName ?? f.name]),
  ))
    ctx.logger.warn(warning);
  // The python detector runs inside the render job, so its settings are part of the key.
  const blenderHash = hashFolder(BLENDER_DIR, ["host"]);
  const detectKey =
    detect === "host"
      ? sha256Hex(blenderHash + canonicalJson(detectRelevantConfig(config)))
      : blenderHash;
  // The files of scene.backgrounds and animations change pixels too: their contents are in the key.
  const folders = [config.scene?.backgrounds, config.animations].map((folder) => {
    if (!folder) return "";
    const dir = resolveUserPath(folder, baseDir);
    if (!existsSync(dir))
      throw new UserError(
        `${folder} (${dir}) does not exist: create it or remove it from the config`,
      );
    return hashFolder(dir);
  });
  const scriptsKey = folders.some(Boolean)
    ? sha256Hex([detectKey, ...folders].join("\0"))
    : detectKey;
  const cache = readCacheIndex(stateDir);
  const characters = files.map((file): PlannedCharacter => {
    const key = renderKey(file.sha256, config, scriptsKey);
    const fileName = file.file.slice(charactersDir.length).replace(/^[/\\]+/, "");
    const earlier = previous?.characters.find((c) => c.name === file.name);
    if (earlier) return { ...file, fileName, key, reuseFrom: earlier.reusedFrom };
    return {
      ...file,
      fileName,
      key,
      reuseFrom: options.force ? undefined : reusableRun(cache, key, dataDir, target),
    };
  });

  const record: RunRecord = previous ?? {
    version: 1,
    runId,
    createdAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
    status: "running",
    target: {
      name: targetName,
      executor: target.executor,
      storage:
        target.storage.type === "s3"
          ? `s3://${target.storage.bucket}/${target.storage.prefix}`
          : target.storage.path,
    },
    configPath: ctx.resolved.path ?? null,
    configHash: sha256Hex(canonicalJson(config)),
    blenderHash,
    versions: { posefactory: VERSION },
    steps: STEPS.map((s) => ({ ...s, status: "pending" as const })),
    characters: characters.map((c) => ({
      name: c.name,
      ...(c.displayName && c.displayName !== c.name ? { displayName: c.displayName } : {}),
      file: c.fileName,
      sha256: c.sha256,
      renderKey: c.key,
      status: "pending" as const,
      images: 0,
      ...(c.reuseFrom ? { reusedFrom: c.reuseFrom } : {}),
    })),
    counts: { imagesRendered: 0, imagesReused: 0, uploaded: 0, downloaded: 0 },
    results: { dir: localRunDir(dataDir, runId) },
  };
  record.status = "running";
  // What a host job pulls besides its characters: the files `upload` sends from these folders.
  const remote = target.executor === "ssh" || target.executor === "slurm";
  const inputFiles = remote
    ? await (await import("../storage/commands.js")).listInputFiles(config, baseDir, [
        "blender",
        "backgrounds",
        "animations",
      ])
    : [];
  return {
    ctx,
    config,
    target,
    runId,
    dataDir,
    stateDir,
    localRunDir: localRunDir(dataDir, runId),
    detect,
    characters,
    inputFiles,
    hashCache,
    record,
    hostRunDir: hostRunDir(target.workdir, runId),
    executor: () => ctx.executor(),
    runner: async () => createJobRunner(target, await ctx.executor()),
  };
}

/** An earlier run holding this render: its local folder, or (ssh) its keys in storage. */
function reusableRun(
  cache: CacheIndex,
  key: string,
  dataDir: string,
  target: TargetConfig,
): string | undefined {
  const entry = cache[key];
  if (!entry) return undefined;
  if (existsSync(join(localRunDir(dataDir, entry.runId), annotationsPath(entry.character))))
    return entry.runId;
  return target.executor === "ssh" ? entry.runId : undefined;
}
