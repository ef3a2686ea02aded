/**
 * The pipeline is a list of titled steps that reuse the single commands' functions. The
 * runner records each step's status and seconds in run.json, skips steps a resumed run
 * already finished, and under --dry-run prints what each step would touch instead.
 */
import { isAbortError } from "../errors.js";
import type { Logger } from "../log.js";
import type { RunRecord } from "./run-record.js";

export interface Step<S> {
  id: string;
  title: string;
  /** False: the step does not apply to this target or config (recorded as skipped). */
  enabled(state: S): boolean;
  /** A reason to skip this time (nothing to do), or undefined to run. */
  skip?(state: S): string | undefined;
  run(state: S): Promise<string | undefined>;
  /** Lines describing what the step would do, for --dry-run. */
  plan?(state: S): Promise<string[]>;
}

export interface StepRunnerOptions {
  logger: Logger;
  record: RunRecord;
  save: () => void;
  /** Steps already done in the run being resumed. */
  done?: Set<string>;
}

export async function runSteps<S>(
  steps: Step<S>[],
  state: S,
  options: StepRunnerOptions,
): Promise<void> {
  const { record, save, logger } = options;
  for (const step of steps) {
    const entry = record.steps.find((s) => s.id === step.id)!;
    if (options.done?.has(step.id)) {
      logger.info(`${step.title}: done in the earlier attempt`);
      continue;
    }
    const reason = !step.enabled(state) ? "not used by this target" : step.skip?.(state);
    if (reason) {
      Object.assign(entry, { status: "skipped", detail: reason });
      save();
      logger.info(`${step.title}: skipped (${reason})`);
      continue;
    }
    const started = performance.now();
    Object.assign(entry, { status: "running" });
    save();
    logger.info(`${step.title}...`);
    try {
      const detail = await step.run(state);
      Object.assign(entry, { status: "done", seconds: seconds(started), detail });
      logger.info(`${step.title}: done in ${entry.seconds}s${detail ? ` (${detail})` : ""}`);
    } catch (error) {
      Object.assign(entry, {
        status: isAbortError(error) ? "interrupted" : "failed",
        seconds: seconds(started),
        error: (error as Error).message,
      });
      throw error;
    } finally {
      save();
    }
  }
}

function seconds(started: number): number {
  return Math.round((performance.now() - started) / 10) / 100;
}
