/**
 * A realistic-size generated character (test/helpers/make_dense_character.py): the sample's
 * skeleton with about 24k smoothly skinned vertices, as an FBX, made once per script version
 * and size and kept in the temp folder like the sample character.
 *
 *   const fbx = await getDenseCharacter({ frames: 600 }, blender);
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createSilentLogger } from "../../src/log.js";
import { createLocalExecutor } from "../../src/remote/local.js";
import { blenderScriptCommand } from "../../src/render/sample.js";
import { DEFAULT_BLENDER, type TestBlender } from "./blender.js";

const SCRIPT = fileURLToPath(new URL("./make_dense_character.py", import.meta.url));
const SAMPLE_SCRIPT = fileURLToPath(
  new URL("../../blender/make_sample_character.py", import.meta.url),
);

export interface DenseOptions {
  /** Length of the one clip (walk with root motion and a raised arm). */
  frames?: number;
  /** Mesh density: vertices around each limb (30: about 24k vertices). */
  segments?: number;
}

const pending = new Map<string, Promise<string>>();

export function getDenseCharacter(
  options: DenseOptions = {},
  blender: TestBlender = DEFAULT_BLENDER,
): Promise<string> {
  const frames = options.frames ?? 600;
  const segments = options.segments ?? 30;
  const hash = createHash("sha256")
    .update(readFileSync(SCRIPT))
    .update(readFileSync(SAMPLE_SCRIPT))
    .update(`${frames}/${segments}`)
    .digest("hex")
    .slice(0, 12);
  const suffix = blender.id === "binary" ? "" : `-${blender.id}`;
  const file = join(tmpdir(), `posefactory-dense-${hash}${suffix}.fbx`);
  let made = pending.get(file);
  if (!made) {
    made = makeDense(file, frames, segments, blender);
    pending.set(file, made);
  }
  return made;
}

async function makeDense(
  file: string,
  frames: number,
  segments: number,
  blender: TestBlender,
): Promise<string> {
  if (existsSync(file)) return file;
  const staging = `${file}.${process.pid}.tmp.fbx`;
  const executor = createLocalExecutor({ logger: createSilentLogger(), baseDir: tmpdir() });
  let output = "";
  const args = ["--out", staging, "--frames", String(frames), "--segments", String(segments)];
  const result = await executor.run(blenderScriptCommand(blender.setting, SCRIPT, args), {
    onStdout: (chunk) => (output += chunk),
    onStderr: (chunk) => (output += chunk),
  });
  if (result.exitCode !== 0)
    throw new Error(`make_dense_character.py failed (exit ${result.exitCode}):\n${output}`);
  renameSync(staging, file); // atomic: a parallel worker sees the whole file or none
  return file;
}
