import { UsageError } from "../errors.js";
import { buildCommand } from "../remote/shell.js";
import { createLineStream } from "./stream-lines.js";
import type { CommandSpec } from "./types.js";

/**
 * `posefactory exec -- <command...>`: one argument is a shell command line, as with
 * `ssh pod 'ls | wc -l'`; several arguments are words, each quoted, so file names with
 * spaces survive. Remote stdout goes to stdout, remote stderr to the log (stderr); the
 * exit code is the remote one. Ctrl-C stops the remote process group (exit 130).
 */
export const command: CommandSpec = {
  name: "exec",
  description:
    "run a command on the target, streamed, and exit with its exit code (one argument: a shell line; several: quoted words)",
  arguments: ["<command...>"],
  async run(args, _options, ctx) {
    const words = (args[0] as string[] | undefined) ?? [];
    if (words.length === 0)
      throw new UsageError("Nothing to run: posefactory exec -- <command...>");
    const script = words.length === 1 ? words[0]! : buildCommand(words);
    const executor = await ctx.executor();
    const stdout = createLineStream((line) => ctx.output.text(line));
    const stderr = createLineStream((line) => ctx.logger.info({ stream: "stderr" }, line));
    ctx.logger.debug({ target: executor.description }, "exec");
    const result = await executor.run(script, {
      signal: ctx.signal,
      onStdout: (chunk) => stdout.write(chunk),
      onStderr: (chunk) => stderr.write(chunk),
    });
    stdout.end();
    stderr.end();
    ctx.output.result({ exitCode: result.exitCode, target: executor.description });
    return result.exitCode;
  },
};
