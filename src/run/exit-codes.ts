/**
 * Exit codes of the scripts that run on the render host (blender/host/*.sh). The shell side
 * uses the same numbers; blender/host/lib.sh names them too.
 */
export const HostExit = {
  /** Every character rendered (and detected, and pushed). */
  ok: 0,
  /** Some character failed; manifest.json says which. */
  someFailed: 1,
  /** A job is already running in that run folder (start refused). */
  alreadyRunning: 17,
  /** Pulling inputs from storage failed: nothing was rendered. */
  pullFailed: 20,
  /** Pose detection failed after rendering: the renders are there. */
  detectFailed: 21,
  /** Pushing results to storage failed: they are still on the host. */
  pushFailed: 22,
  /** There is no job (no status.json) in that run folder. */
  noJob: 44,
  /** A program was not found (bash's own code). */
  notFound: 127,
} as const;

/** True for the codes after which the renders exist: rendering itself went through. */
export function rendered(code: number | null): boolean {
  return (
    code === HostExit.ok ||
    code === HostExit.someFailed ||
    code === HostExit.detectFailed ||
    code === HostExit.pushFailed
  );
}

/** What a failed host job's exit code means, and how to fix it, for error messages. */
export function hostExitHint(code: number | null): string {
  switch (code) {
    case HostExit.pullFailed:
      return "pulling inputs from storage failed: check the storage settings and `posefactory doctor`";
    case HostExit.detectFailed:
      return "pose detection failed on the host: run `posefactory setup-pod`, then `posefactory pipeline --resume <runId>`";
    case HostExit.pushFailed:
      return "pushing results to storage failed; they are still on the host: `posefactory pipeline --resume <runId>` pushes them again";
    case HostExit.notFound:
      return "a program was not found on the host: run `posefactory setup-pod`";
    default:
      return "";
  }
}
