import type { SshTargetConfig } from "../config/schema.js";
import type { CreateExecutorOptions } from "./index.js";
import type { Executor } from "./types.js";

export async function connectSsh(
  _target: SshTargetConfig,
  _options: CreateExecutorOptions,
): Promise<Executor> {
  throw new Error("ssh executor: work in progress");
}
