/**
 * The Executor contract: where render and detection run. `local` runs bash on this machine
 * (execa); `ssh` runs bash on the pod (ssh2). Scripts always go to `bash --noprofile --norc -s`
 * on stdin, so neither secrets in `env` nor long arguments appear on a command line.
 */

export interface RunOptions {
  /** Exported at the top of the script (never on a command line). */
  env?: Record<string, string>;
  /** Working directory; created when missing. */
  cwd?: string;
  /** Aborting terminates the remote process group (TERM, then KILL) and rejects with InterruptedError. */
  signal?: AbortSignal;
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
  /**
   * How output bytes become chunk strings (default utf8). `latin1` maps each byte to one
   * character, so callers that count bytes (log offsets for reconnecting) stay exact.
   */
  encoding?: "utf8" | "latin1";
}

export interface RunResult {
  exitCode: number;
  /** Last part of stderr, for error messages. */
  stderrTail: string;
}

export interface Executor {
  readonly kind: "local" | "ssh";
  /** e.g. `local` or `root@pod:22`. */
  readonly description: string;
  run(script: string, options?: RunOptions): Promise<RunResult>;
  /**
   * A hint that another run follows soon: start its shell now (ssh: the session and the
   * remote account's rc files) so it is ready when run() sends the script. Nothing runs on
   * the host before that. A run() called before this hint does not take that shell.
   */
  prepareRun?(): void;
  /**
   * run() in the shell the next run() gets (ssh: one session and one login for both, and that
   * run starts at once). The script runs in a subshell with stdin from /dev/null; the shell
   * then waits for the next run's script. Where absent, call run().
   */
  runAhead?(script: string, options?: RunOptions): Promise<RunResult>;
  readFile(path: string): Promise<Buffer | undefined>;
  writeFile(path: string, data: string | Buffer): Promise<void>;
  close(): Promise<void>;
}
