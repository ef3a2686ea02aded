/**
 * The sample character for newcomers and tests: a procedural Mixamo-like walker built by
 * blender/make_sample_character.py, so the first run needs no download and no account.
 */
import { UserError } from "../errors.js";
import type { Logger } from "../log.js";
import { packagePath } from "../package-root.js";
import type { Executor } from "../remote/types.js";
import { type BlenderSetting, blenderScriptCommand, describeLauncher } from "./launcher.js";

/** Moved to ./launcher.ts (both launchers); re-exported for existing callers. */
export { blenderScriptCommand };

/** The project's blender/ folder, from src/, dist/ or the bundled CLI alike. */
export const BLENDER_DIR = `${packagePath("blender")}/`;

export async function makeSampleCharacter(
  executor: Executor,
  options: {
    blender: BlenderSetting;
    out: string;
    glbTwoClips?: string;
    logger: Logger;
    signal?: AbortSignal;
  },
): Promise<void> {
  const args = [
    "--out",
    options.out,
    ...(options.glbTwoClips ? ["--glb-two-clips", options.glbTwoClips] : []),
  ];
  let output = "";
  const result = await executor.run(
    blenderScriptCommand(options.blender, `${BLENDER_DIR}make_sample_character.py`, args),
    {
      signal: options.signal,
      onStdout: (chunk) => (output += chunk),
      onStderr: (chunk) => (output += chunk),
    },
  );
  if (result.exitCode !== 0) {
    const notFound = result.exitCode === 127;
    throw new UserError(
      notFound
        ? `Blender (${describeLauncher(options.blender)}) was not found: install it (${process.platform === "darwin" ? "brew install --cask blender" : "sudo apt-get install -y blender"}) or set targets.local.blender`
        : `making the sample character failed (exit ${result.exitCode}):\n${output.trim().split("\n").slice(-15).join("\n")}`,
    );
  }
  options.logger.debug({ out: options.out }, "sample character written");
}
