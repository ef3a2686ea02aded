import { UsageError } from "../errors.js";
import { poseModelsOf, readSetupPodScript } from "../remote/doctor.js";
import { buildCommand } from "../remote/shell.js";
import { flag } from "./options.js";
import { createLineStream } from "./stream-lines.js";
import { defineCommand } from "./types.js";

/**
 * `posefactory setup-pod [--force] [--check]`: runs blender/setup_pod.sh on the ssh
 * target through the executor (on stdin, like every remote script). Idempotent: a marker
 * on the host records what was installed.
 */
export const command = defineCommand({
  name: "setup-pod",
  description:
    "install Blender, rclone, python + mediapipe and the pose model on the ssh target (idempotent)",
  options: {
    force: flag("--force", "install everything again, even when the marker says it is done"),
    check: flag("--check", "install nothing: print what the host has (exit 3 when not set up)"),
  },
  async run(_args, options, ctx) {
    if (ctx.resolved.target.executor !== "ssh") {
      throw new UsageError(
        `setup-pod prepares a remote render host; target ${ctx.resolved.targetName} is local. Use --target <ssh target>.`,
      );
    }
    const args = [options.force ? "--force" : "", options.check ? "--check" : ""].filter(Boolean);
    const executor = await ctx.executor();
    ctx.logger.info(`running setup_pod.sh ${args.join(" ")} on ${executor.description}`);
    const stdout = createLineStream((line) => ctx.output.text(line));
    const stderr = createLineStream((line) => ctx.logger.warn(line));
    let text = "";
    const result = await executor.run(
      `set -- ${buildCommand(args)}\n${readSetupPodScript(poseModelsOf(ctx.resolved.config.detect))}`,
      {
        signal: ctx.signal,
        onStdout: (chunk) => {
          text += chunk;
          stdout.write(chunk);
        },
        onStderr: (chunk) => stderr.write(chunk),
      },
    );
    stdout.end();
    stderr.end();
    const state = /^state: (.*)$/m.exec(text)?.[1];
    ctx.output.result({
      target: executor.description,
      exitCode: result.exitCode,
      state,
      output: text,
    });
    if (result.exitCode !== 0 && !(options.check && result.exitCode === 3)) {
      ctx.logger.error(
        `setup_pod.sh failed with exit code ${result.exitCode}: ${result.stderrTail}`,
      );
      return 1;
    }
    return result.exitCode;
  },
});
