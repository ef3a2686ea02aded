/**
 * Retry what is transient (5xx, 429/SlowDown, timeouts, connection resets), a bounded
 * number of times with exponential backoff and full jitter, so many parallel transfers
 * hitting the same hiccup do not retry in lockstep. A UserError is never retried.
 */
import { isAbortError, UserError } from "../errors.js";
import type { Logger } from "../log.js";
import { sleep } from "../sleep.js";

const TRANSIENT_NAMES = new Set([
  "TimeoutError",
  "RequestTimeout",
  "RequestTimeoutException",
  "SlowDown",
  "InternalError",
  "ServiceUnavailable",
  "Throttling",
  "ThrottlingException",
  "TooManyRequestsException",
]);
const TRANSIENT_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ECONNABORTED",
  "UND_ERR_SOCKET",
  "ERR_STREAM_PREMATURE_CLOSE",
]);

interface ErrorLike {
  name?: string;
  code?: string;
  message?: string;
  cause?: unknown;
  errors?: unknown[];
  $metadata?: { httpStatusCode?: number };
}

/** The errno-style code of an error or of anything it wraps (AggregateError, cause). */
export function networkCodeOf(error: unknown, depth = 0): string | undefined {
  if (!error || typeof error !== "object" || depth > 5) return undefined;
  const e = error as ErrorLike;
  if (typeof e.code === "string" && /^E[A-Z_]+$|^UND_ERR/.test(e.code)) return e.code;
  for (const inner of e.errors ?? []) {
    const code = networkCodeOf(inner, depth + 1);
    if (code) return code;
  }
  return networkCodeOf(e.cause, depth + 1);
}

export function isTransientError(error: unknown): boolean {
  if (!error || typeof error !== "object") return false;
  if (error instanceof UserError || isAbortError(error)) return false;
  const e = error as ErrorLike;
  const status = e.$metadata?.httpStatusCode ?? 0;
  if (status === 429 || status >= 500) return true;
  if (e.name && TRANSIENT_NAMES.has(e.name)) return true;
  const code = networkCodeOf(error);
  if (code && TRANSIENT_CODES.has(code)) return true;
  return /socket hang up|premature close/i.test(e.message ?? "");
}

export interface RetryOptions {
  /** Total attempts, including the first. */
  attempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  signal?: AbortSignal;
  logger?: Logger;
  /** What is being done, for the log line: "PUT inputs/a.fbx". */
  what: string;
  isRetryable?: (error: unknown) => boolean;
}

/** Full jitter: a random delay between 0 and the exponential cap, never below 10% of base. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number): number {
  const cap = Math.min(maxMs, baseMs * 2 ** attempt);
  return Math.max(baseMs * 0.1, Math.random() * cap);
}

export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const attempts = options.attempts ?? 4;
  const isRetryable = options.isRetryable ?? isTransientError;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt + 1 >= attempts || options.signal?.aborted || !isRetryable(error)) throw error;
      const delay = backoffDelay(attempt, options.baseDelayMs ?? 250, options.maxDelayMs ?? 4000);
      options.logger?.debug(
        { err: error, attempt: attempt + 1, delayMs: Math.round(delay) },
        `${options.what}: transient error, retrying`,
      );
      await sleep(delay, options.signal);
    }
  }
}
