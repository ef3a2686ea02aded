/**
 * Storage failures the user can fix, tagged with what went wrong so `doctor` can say which
 * check failed. Each kind has its own message; the exit code is 2 for configuration problems
 * (credentials, bucket, permission) and 1 for the rest (unreachable, transfer, integrity).
 */
import { ExitCode, UserError } from "../errors.js";

export type StorageErrorKind =
  | "credentials"
  | "permission"
  | "bucket"
  | "unreachable"
  | "unsafe-key"
  | "integrity"
  | "transfer";

const CONFIG_KINDS: ReadonlySet<StorageErrorKind> = new Set([
  "credentials",
  "permission",
  "bucket",
]);

export class StorageError extends UserError {
  readonly kind: StorageErrorKind;
  constructor(kind: StorageErrorKind, message: string, options: { cause?: unknown } = {}) {
    super(message, {
      cause: options.cause,
      exitCode: CONFIG_KINDS.has(kind) ? ExitCode.usage : ExitCode.failed,
    });
    this.kind = kind;
  }
}

export function isStorageError(error: unknown, kind?: StorageErrorKind): error is StorageError {
  return error instanceof StorageError && (kind === undefined || error.kind === kind);
}
