/**
 * The one entry point to get an Executor for a target. Commands and the pipeline call
 * this (through the context); nothing else constructs executors.
 */
import { sshTargetSchema, type TargetConfig } from "../config/schema.js";
import { UsageError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Executor } from "./types.js";

export type { Executor, RunOptions, RunResult } from "./types.js";

export interface CreateExecutorOptions {
  logger: Logger;
  /** Folder relative local paths resolve against (the config file's folder). */
  baseDir: string;
  env?: NodeJS.ProcessEnv;
  /** Home folder for ~/.ssh/config and posefactory's known_hosts (tests pass a temp one). */
  home?: string;
  /** Aborts connecting (retries included). */
  signal?: AbortSignal;
}

export async function createExecutor(
  target: TargetConfig,
  options: CreateExecutorOptions,
): Promise<Executor> {
  // Each executor's module loads only when used: execa (the local one) costs as much start-up
  // time as ssh2, before an ssh target can even start connecting.
  if (target.executor === "local") {
    const { createLocalExecutor } = await import("./local.js");
    return createLocalExecutor({
      logger: options.logger,
      baseDir: options.baseDir,
      env: options.env,
    });
  }
  if (target.executor === "runpod") {
    throw new UsageError(
      "A runpod target has no fixed host: `posefactory pipeline` and `posefactory pod up` create its pod; `posefactory pod ssh` connects to it.",
    );
  }
  if (target.executor === "slurm") {
    // Slurm's commands run here (posefactory on the login node) or over ssh on the login node.
    if (!target.ssh) {
      const { createLocalExecutor } = await import("./local.js");
      return createLocalExecutor({
        logger: options.logger,
        baseDir: options.baseDir,
        env: options.env,
      });
    }
    const { connectSsh } = await import("./ssh.js");
    return connectSsh(
      sshTargetSchema.parse({
        executor: "ssh",
        ...target.ssh,
        workdir: target.workdir,
        storage: target.storage,
      }),
      options,
    );
  }
  const { connectSsh } = await import("./ssh.js");
  return connectSsh(target, options);
}
