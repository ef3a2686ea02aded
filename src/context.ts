/**
 * What every command receives: the resolved config, the logger, and lazily created
 * storage and executor (so `config show` never connects anywhere).
 */
import type { ResolvedConfig } from "./config/schema.js";
import type { Logger } from "./log.js";
import type { Executor } from "./remote/types.js";
import type { Storage } from "./storage/types.js";

export interface GlobalOptions {
  config?: string;
  target?: string;
  json?: boolean;
  verbose?: number;
  quiet?: boolean;
  color?: boolean;
  logJson?: boolean;
  logFile?: string;
}

export interface Context {
  resolved: ResolvedConfig;
  logger: Logger;
  global: GlobalOptions;
  /** Current working directory the command runs in (tests use temp dirs). */
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Fires on Ctrl-C. */
  signal: AbortSignal;
  storage(): Promise<Storage>;
  executor(): Promise<Executor>;
  /** Write the command's result to stdout (one JSON object with --json). */
  output: Output;
}

export interface Output {
  /** Human text on stdout (suppressed with --json). */
  text(line: string): void;
  /** The single JSON summary with --json; with human output, ignored. */
  result(value: unknown): void;
}
