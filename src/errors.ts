/**
 * The three kinds of failure posefactory reports. A UserError is something the user can fix
 * (message only, no stack); a RemoteCommandError is a command that failed on the target;
 * anything else is a bug and is printed with its stack and a request to report it.
 */

/** Exit codes, DESIGN.md: 0 done, 1 the work failed, 2 bad usage or config, 130 interrupted. */
export const ExitCode = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class UserError extends Error {
  override readonly name = "UserError";
  readonly exitCode: ExitCodeValue;
  constructor(message: string, options: { exitCode?: ExitCodeValue; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.exitCode = options.exitCode ?? ExitCode.failed;
  }
}

/** Bad usage or bad config: exit code 2. */
export class UsageError extends UserError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { exitCode: ExitCode.usage, cause: options.cause });
  }
}

export class RemoteCommandError extends Error {
  override readonly name = "RemoteCommandError";
  readonly exitCode = ExitCode.failed;
  constructor(
    readonly command: string,
    readonly remoteExitCode: number,
    readonly stderrTail: string,
    options: { cause?: unknown } = {},
  ) {
    super(
      `\`${command}\` exited with code ${remoteExitCode}${stderrTail ? `:\n${stderrTail}` : ""}`,
      options,
    );
  }
}

/** Thrown when the user pressed Ctrl-C (or an AbortSignal fired): exit code 130. */
export class InterruptedError extends Error {
  override readonly name = "InterruptedError";
  readonly exitCode = ExitCode.interrupted;
  constructor(message = "interrupted") {
    super(message);
  }
}

export function isAbortError(error: unknown): boolean {
  return (
    error instanceof InterruptedError ||
    (error instanceof Error && (error.name === "AbortError" || error.name === "InterruptedError"))
  );
}

/** Map any thrown value to the process exit code. */
export function exitCodeOf(error: unknown): ExitCodeValue {
  if (error instanceof UserError) return error.exitCode;
  if (error instanceof RemoteCommandError) return ExitCode.failed;
  if (isAbortError(error)) return ExitCode.interrupted;
  return ExitCode.failed;
}

/** Keep the last `maxLines` lines of a text: enough context for an error message. */
export function tailLines(text: string, maxLines = 20): string {
  const lines = text.trimEnd().split("\n");
  return lines.slice(-maxLines).join("\n");
}
