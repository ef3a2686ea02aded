/**
 * Running blender/render.py through an Executor (the command lines of both launchers, the
 * Blender binary and the bpy module, live in ./launcher.ts, shared with the sample character). Blender's own output is forwarded to the logger as it comes; the result
 * comes back only through manifest.json, validated with zod (never by parsing stdout).
 */
import { posix } from "node:path";
import { RemoteCommandError, UserError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Executor } from "../remote/types.js";
import { parseManifest } from "../run/manifest.js";
import { RunFiles } from "../run/paths.js";
import { type BlenderSetting, blenderScriptCommand, describeLauncher } from "./launcher.js";
import type { Manifest } from "./manifest.js";
import { BLENDER_DIR } from "./sample.js";

export interface RunBlenderJobOptions {
  /** Blender on the host: an executable, or {launcher: module, path: python}. */
  blender: BlenderSetting;
  /** job.json on the host. */
  jobPath: string;
  /** The job's outDir on the host: where manifest.json appears. */
  runDir: string;
  /** Folder holding render.py and posefactory_bpy/ on the host; this project's blender/ by default. */
  blenderDir?: string;
  logger: Logger;
  signal?: AbortSignal;
}

export interface StageSeconds {
  import: number;
  bbox: number;
  cameras: number;
  render: number;
}

export interface RenderSummary {
  runId: string;
  runDir: string;
  ok: number;
  failed: number;
  images: number;
  blenderVersion: string;
  device: { type: string; names: string[] };
  seconds: StageSeconds;
  characters: {
    name: string;
    status: "ok" | "failed";
    error?: string;
    images: number;
    clips: string[];
    seconds: StageSeconds;
    warnings?: string[];
  }[];
}

export function buildRenderCommand(
  blender: BlenderSetting,
  jobPath: string,
  blenderDir: string = BLENDER_DIR,
): string {
  const script = posix.join(blenderDir.replace(/\\/g, "/"), "render.py");
  return blenderScriptCommand(blender, script, ["--job", jobPath]);
}

/** Calls `onLine` for each complete line of a chunked stream. */
export function lineSplitter(onLine: (line: string) => void): {
  push(chunk: string): void;
  end(): void;
} {
  let pending = "";
  return {
    push(chunk) {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) onLine(line.replace(/\r$/, ""));
    },
    end() {
      if (pending) onLine(pending);
      pending = "";
    },
  };
}

const PREFIX = "posefactory: ";

export function forwardLine(logger: Logger, line: string): void {
  if (!line.startsWith(PREFIX)) {
    if (line.trim()) logger.debug({ blender: line }, "blender");
    return;
  }
  const message = line.slice(PREFIX.length);
  if (message.startsWith("error: ")) logger.error(message.slice(7));
  else if (message.startsWith("warning: ")) logger.warn(message.slice(9));
  else logger.info(message);
}

/** Run Blender on a job; resolves with the validated manifest (also when characters failed). */
export async function runBlenderJob(
  executor: Executor,
  options: RunBlenderJobOptions,
): Promise<Manifest> {
  const { logger } = options;
  const command = buildRenderCommand(options.blender, options.jobPath, options.blenderDir);
  logger.debug({ command }, "starting Blender");
  const out = lineSplitter((line) => forwardLine(logger, line));
  const err = lineSplitter((line) => forwardLine(logger, line));
  const result = await executor.run(command, {
    cwd: options.runDir,
    signal: options.signal,
    onStdout: (chunk) => out.push(chunk),
    onStderr: (chunk) => err.push(chunk),
  });
  out.end();
  err.end();
  if (result.exitCode === 127) {
    throw new UserError(
      `Blender (${describeLauncher(options.blender)}) was not found on ${executor.description}: install it or set the target's \`blender\` key`,
    );
  }
  // 0: all rendered; 1: some character failed (recorded in the manifest). Anything else is a crash.
  if (result.exitCode !== 0 && result.exitCode !== 1) {
    throw new RemoteCommandError(command, result.exitCode, result.stderrTail);
  }
  const manifestPath = posix.join(options.runDir.replace(/\\/g, "/"), RunFiles.manifest);
  const data = await executor.readFile(manifestPath);
  if (data === undefined) {
    throw new RemoteCommandError(
      command,
      result.exitCode,
      `${result.stderrTail}\n(no manifest.json in ${options.runDir})`.trim(),
    );
  }
  return parseManifest(data.toString("utf8"), manifestPath);
}

function addSeconds(a: StageSeconds, b: StageSeconds): StageSeconds {
  return {
    import: a.import + b.import,
    bbox: a.bbox + b.bbox,
    cameras: a.cameras + b.cameras,
    render: a.render + b.render,
  };
}

export function summarizeManifest(manifest: Manifest, runDir: string): RenderSummary {
  const characters = manifest.characters.map((c) => ({
    name: c.name,
    status: c.status,
    ...(c.error !== undefined ? { error: c.error } : {}),
    images: c.images.length,
    clips: c.clips.map((clip) => clip.name),
    seconds: c.seconds,
    ...(c.warnings && c.warnings.length > 0 ? { warnings: c.warnings } : {}),
  }));
  return {
    runId: manifest.runId ?? "",
    runDir,
    ok: characters.filter((c) => c.status === "ok").length,
    failed: characters.filter((c) => c.status === "failed").length,
    images: characters.reduce((n, c) => n + c.images, 0),
    blenderVersion: manifest.blenderVersion,
    device: manifest.device,
    seconds: characters.reduce((s, c) => addSeconds(s, c.seconds), {
      import: 0,
      bbox: 0,
      cameras: 0,
      render: 0,
    }),
    characters,
  };
}

/** Human lines for the summary: one per character, then the totals. */
export function formatSummary(summary: RenderSummary): string[] {
  const fmt = (s: StageSeconds) =>
    `import ${s.import.toFixed(1)} s, bbox ${s.bbox.toFixed(1)} s, cameras ${s.cameras.toFixed(1)} s, render ${s.render.toFixed(1)} s`;
  const lines = summary.characters.map((c) =>
    c.status === "ok"
      ? `ok      ${c.name}: ${c.images} images, clips ${c.clips.join(", ")} (${fmt(c.seconds)})`
      : `FAILED  ${c.name}: ${c.error ?? "unknown error"}`,
  );
  lines.push(
    `${summary.ok} ok, ${summary.failed} failed, ${summary.images} images in ${summary.runDir} (Blender ${summary.blenderVersion}, ${summary.device.type})`,
  );
  return lines;
}
