/**
 * A dropped connection is the one failure worth retrying in the middle of remote work:
 * detached jobs keep running on the host, so callers reconnect and carry on.
 */
export class ConnectionLostError extends Error {
  override readonly name = "ConnectionLostError";
}

export function isConnectionLost(error: unknown): error is ConnectionLostError {
  return error instanceof Error && error.name === "ConnectionLostError";
}
