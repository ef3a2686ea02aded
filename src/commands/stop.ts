import { UserError } from "../errors.js";
import { jobOf } from "./job-commands.js";
import { seconds } from "./options.js";
import { describeJobStatus } from "./status.js";
import { defineCommand } from "./types.js";

/** `posefactory stop <runId>`: TERM the job's process group, KILL after the grace period. */
export const command = defineCommand({
  name: "stop",
  description: "stop a run's job on the target (TERM, then KILL after a grace period)",
  arguments: ["<runId>"],
  options: { grace: seconds("--grace <seconds>", "seconds between TERM and KILL", 10) },
  async run(args, options, ctx) {
    if (ctx.resolved.target.executor === "slurm") {
      const { slurmStop } = await import("./slurm-job.js");
      return slurmStop(ctx, args[0]);
    }
    const { runId, dir, runner } = await jobOf(ctx, args[0]);
    const before = await runner.status(runId, ctx.signal);
    if (!before) {
      throw new UserError(
        `No job for run ${runId} on ${runner.description} (looked in ${dir}): check the run id.`,
      );
    }
    if (before.state !== "running") {
      ctx.output.text(`${describeJobStatus(runId, before)}: nothing to stop`);
      ctx.output.result({ runId, stopped: false, ...before });
      return 0;
    }
    const after = await runner.stop(runId, { graceSeconds: options.grace });
    ctx.output.text(after ? describeJobStatus(runId, after) : `run ${runId}: stopped`);
    ctx.output.result({ runId, stopped: true, ...after });
    return 0;
  },
});
