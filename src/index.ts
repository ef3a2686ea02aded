/**
 * posefactory's public API: the functions behind the commands, for scripts that drive
 * posefactory from Node. Each takes the command's options and a Context (see context.ts).
 */
export { createProgram, main } from "./cli.js";
export { loadConfig, parseConfigText } from "./config/load.js";
export type { Config, ConfigInput, ResolvedConfig, TargetConfig } from "./config/schema.js";
export { configSchema } from "./config/schema.js";
export type { Context, GlobalOptions } from "./context.js";
export { runDetect, runReport } from "./detect/run.js";
export { ExitCode, RemoteCommandError, UsageError, UserError } from "./errors.js";
export { attachJob, getJobStatus, startJob, stopJob } from "./jobs/detached.js";
export { createJobRunner, type JobRunner } from "./jobs/index.js";
export { runPipeline } from "./pipeline/run.js";
export { createExecutor } from "./remote/index.js";
export { runRender } from "./render/run.js";
export { runDownload, runUpload } from "./storage/commands.js";
export { createStorage } from "./storage/index.js";
export { VERSION } from "./version.js";
