import { UsageError, UserError } from "../errors.js";
import { jobOf } from "./job-commands.js";
import { flag, integer } from "./options.js";
import { createLineStream } from "./stream-lines.js";
import { defineCommand } from "./types.js";

/**
 * `posefactory logs <runId> [-f]`: print a job's log from the host; with -f follow it until
 * the job ends (reconnecting if the connection drops). Ctrl-C only detaches: the job keeps
 * running (stop it with `posefactory stop <runId>`).
 */
export const command = defineCommand({
  name: "logs",
  description: "print the log of a run's job on the target (-f: follow until it ends)",
  arguments: ["<runId>"],
  options: {
    follow: flag("-f, --follow", "keep streaming until the job ends"),
    shard: integer("--shard <i>", "Slurm runs: only this shard's log", { min: 0 }),
  },
  async run(args, options, ctx) {
    if (ctx.resolved.target.executor === "slurm") {
      const { slurmLogs } = await import("./slurm-job.js");
      return slurmLogs(ctx, args[0], { shard: options.shard, follow: options.follow });
    }
    if (options.shard !== undefined)
      throw new UsageError("--shard is for runs on a Slurm target (`executor: slurm`)");
    const { runId, dir, runner } = await jobOf(ctx, args[0]);
    if (!(await runner.status(runId, ctx.signal))) {
      throw new UserError(
        `No job for run ${runId} on ${runner.description} (looked in ${dir}): check the run id.`,
      );
    }
    const lines = createLineStream((line) => ctx.output.text(line));
    try {
      const { status, offset } = await runner.follow(runId, {
        follow: options.follow,
        stopOnAbort: false,
        signal: ctx.signal,
        logger: ctx.logger,
        onOutput: (text) => lines.write(text),
      });
      lines.end();
      ctx.output.result({ runId, status, bytes: offset });
      return 0;
    } catch (error) {
      lines.end();
      if (ctx.signal.aborted) {
        ctx.logger.info(`detached; the job keeps running: posefactory stop ${runId} to stop it`);
      }
      throw error;
    }
  },
});
