import { UserError } from "../errors.js";
import type { JobStatus } from "../jobs/types.js";
import { jobOf } from "./job-commands.js";
import type { CommandSpec } from "./types.js";

export function describeJobStatus(runId: string, status: JobStatus): string {
  const parts = [
    `run ${runId}: ${status.state}${status.lost ? " (no process left: the host restarted or it was killed)" : ""}`,
  ];
  if (status.exitCode !== null) parts.push(`exit code ${status.exitCode}`);
  parts.push(`started ${status.startedAt}`);
  if (status.endedAt) parts.push(`ended ${status.endedAt} (${status.seconds} s)`);
  if (status.state === "running") parts.push(`process group ${status.pgid}`);
  return parts.join(", ");
}

/** `posefactory status <runId>`: the state of a run's job on the target. */
export const command: CommandSpec = {
  name: "status",
  description: "show the state of a run's job on the target (running, done, failed, stopped)",
  arguments: ["<runId>"],
  async run(args, _options, ctx) {
    if (ctx.resolved.target.executor === "slurm") {
      const { slurmStatus } = await import("./slurm-job.js");
      return slurmStatus(ctx, args[0]);
    }
    const { runId, dir, runner } = await jobOf(ctx, args[0]);
    const status = await runner.status(runId, ctx.signal);
    if (!status) {
      throw new UserError(
        `No job for run ${runId} on ${runner.description} (looked in ${dir}): check the run id.`,
      );
    }
    ctx.output.text(describeJobStatus(runId, status));
    ctx.output.result({ runId, target: runner.description, ...status });
    return 0;
  },
};
