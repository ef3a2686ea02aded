/**
 * The one entry point to a target's JobRunner. Every target runs its host work through the
 * detached runner today; a target that names another runner (Slurm) gets that one here.
 */
import type { TargetConfig } from "../config/schema.js";
import type { Executor } from "../remote/types.js";
import { createDetachedRunner } from "./detached.js";
import type { JobRunner } from "./types.js";

export type { FollowOptions, FollowResult, HostJob, JobRunner, JobStatus } from "./types.js";

export function createJobRunner(target: TargetConfig, executor: Executor): JobRunner {
  return createDetachedRunner(executor, target.workdir);
}
