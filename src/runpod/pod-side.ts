/**
 * What posefactory does on a pod it manages: start the watchdog (blender/host/watchdog.sh)
 * in its own session, touch the heartbeat while a client is attached, and run setup-pod
 * when the pod lacks it. Each is one bash script through the Executor.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join, posix } from "node:path";
import type { RunpodTargetConfig } from "../config/schema.js";
import { UserError } from "../errors.js";
import { readHostScript } from "../jobs/host-scripts.js";
import type { Logger } from "../log.js";
import { readSetupPodScript } from "../remote/doctor.js";
import { quoteShell } from "../remote/shell.js";
import type { Executor } from "../remote/types.js";
import { BLENDER_DIR } from "../render/sample.js";

export const WATCHDOG_SCRIPT = join(BLENDER_DIR, "host", "watchdog.sh");

/** `<workdir>/.posefactory`: the watchdog's folder (heartbeat, pid, log) and the setup marker. */
export function podStateDir(workdir: string): string {
  return posix.join(workdir, ".posefactory");
}

export interface WatchdogOptions {
  target: RunpodTargetConfig;
  /** The run's job folder while a run is on the pod. */
  jobDir?: string;
  /** stop keeps the pod (and its disk) for the next run; terminate ends it. */
  idleAction: "stop" | "terminate";
  /** When the pod started (its maxHours count from here). */
  podStartedAt: Date;
  runStartedAt?: Date;
  costPerHour: number;
  /** Inherited by the watchdog (rclone's settings for pushing): never written to disk. */
  env?: Record<string, string>;
  logger?: Logger;
}

/** The watchdog checks this often: often enough for idleMinutes, never more than every 30 s. */
export function watchdogPollSeconds(idleMinutes: number): number {
  return Math.max(1, Math.min(30, Math.round((idleMinutes * 60) / 6)));
}

/** How often an attached client touches the heartbeat. */
export function heartbeatSeconds(idleMinutes: number): number {
  return Math.max(1, Math.min(30, (idleMinutes * 60) / 4));
}

/** (Re)start the pod's watchdog: a running one is replaced by one with these settings. */
export async function startWatchdog(executor: Executor, options: WatchdogOptions): Promise<void> {
  const { target } = options;
  const dir = podStateDir(target.workdir);
  const env: Record<string, string> = {
    ...options.env,
    PF_WD_DIR: dir,
    PF_WD_IDLE_SECONDS: String(Math.round(target.idleMinutes * 60)),
    PF_WD_IDLE_ACTION: options.idleAction,
    PF_WD_POD_STARTED: String(Math.floor(options.podStartedAt.getTime() / 1000)),
    PF_WD_MAX_SECONDS: String(Math.round(target.maxHours * 3600)),
    PF_WD_RUN_STARTED: String(Math.floor((options.runStartedAt ?? new Date()).getTime() / 1000)),
    PF_WD_COST_PER_HOUR: String(options.costPerHour),
    PF_WD_MAX_COST: String(options.runStartedAt ? target.maxRunCost : 0),
    PF_WD_POLL_SECONDS: String(watchdogPollSeconds(target.idleMinutes)),
  };
  if (options.jobDir) env.PF_WD_JOB_DIR = options.jobDir;
  const script = `set -u
mkdir -p ${quoteShell(dir)} && cd ${quoteShell(dir)} || exit 1
cat > watchdog.sh.tmp <<'PF_WATCHDOG_EOF'
${readHostScript("group.sh").trimEnd()}
${readFileSync(WATCHDOG_SCRIPT, "utf8").trimEnd()}
PF_WATCHDOG_EOF
mv -f watchdog.sh.tmp watchdog.sh
if [ -f watchdog.pid ]; then kill "$(cat watchdog.pid)" 2>/dev/null; fi
touch heartbeat
if command -v setsid >/dev/null 2>&1; then
  setsid bash --noprofile --norc ./watchdog.sh < /dev/null >> watchdog.log 2>&1 &
else
  perl -MPOSIX -e 'POSIX::setsid(); exec @ARGV' bash --noprofile --norc ./watchdog.sh < /dev/null >> watchdog.log 2>&1 &
fi
echo $! > watchdog.pid
`;
  const result = await executor.run(script, { env });
  if (result.exitCode !== 0) {
    throw new UserError(
      `Could not start the watchdog on ${executor.description}: ${result.stderrTail}`,
    );
  }
  options.logger?.debug({ dir }, "watchdog started");
}

/**
 * Touch the heartbeat every few seconds until the returned function is called: one remote
 * loop for the whole run (not a connection per touch). It writes a byte each round, so when
 * the connection goes (the CLI was killed) its next write fails and it ends: a dead client
 * never keeps the pod busy.
 */
export function keepHeartbeat(
  executor: Executor,
  target: RunpodTargetConfig,
  logger?: Logger,
): () => Promise<void> {
  const file = quoteShell(posix.join(podStateDir(target.workdir), "heartbeat"));
  const every = heartbeatSeconds(target.idleMinutes);
  const controller = new AbortController();
  const loop = (async () => {
    while (!controller.signal.aborted) {
      try {
        await executor.run(`while :; do touch ${file}; echo .; sleep ${every}; done`, {
          signal: controller.signal,
        });
      } catch (error) {
        if (controller.signal.aborted) return;
        logger?.debug({ error: (error as Error).message }, "heartbeat loop ended; restarting");
        await new Promise((r) => setTimeout(r, every * 1000));
      }
    }
  })();
  return async () => {
    controller.abort();
    await Promise.race([loop, new Promise((r) => setTimeout(r, 10_000).unref())]);
  };
}

function setupDigest(poseModels: readonly string[] = []): string {
  return createHash("sha256").update(readSetupPodScript(poseModels)).digest("hex");
}

/**
 * setup: auto runs setup-pod unless the pod's marker says this very setup_pod.sh already
 * ran there (one round trip on a warm pod); setup: skip trusts the image.
 */
export async function ensureSetUp(
  executor: Executor,
  target: RunpodTargetConfig,
  options: {
    logger: Logger;
    signal?: AbortSignal;
    onLine?: (line: string) => void;
    /** The pose models the config uses (poseModelsOf): a new one sets the pod up again. */
    poseModels?: readonly string[];
  },
): Promise<"skipped" | "already" | "installed"> {
  if (target.setup === "skip") return "skipped";
  const marker = posix.join(podStateDir(target.workdir), "setup.sha256");
  const digest = setupDigest(options.poseModels);
  const current = await executor.readFile(marker);
  if (current?.toString("utf8").trim() === digest) return "already";
  options.logger.info(
    `setting up pod ${executor.description} (setup_pod.sh; minutes on a new pod)`,
  );
  let tail = "";
  const result = await executor.run(readSetupPodScript(options.poseModels), {
    signal: options.signal,
    onStdout: (chunk) => {
      tail = (tail + chunk).slice(-4000);
      for (const line of chunk.split("\n")) if (line.trim()) options.onLine?.(line);
    },
  });
  if (result.exitCode !== 0) {
    throw new UserError(
      `setup_pod.sh failed on ${executor.description} (exit ${result.exitCode}):\n${result.stderrTail || tail}`,
    );
  }
  await executor.writeFile(marker, `${digest}\n`);
  return "installed";
}

/**
 * The remote command of `pod ssh`: a login shell, with the heartbeat touched while it lives,
 * so the watchdog does not stop the pod under an open shell.
 */
export function heartbeatShell(target: RunpodTargetConfig): string {
  const file = posix.join(podStateDir(target.workdir), "heartbeat");
  const every = Math.round(heartbeatSeconds(target.idleMinutes));
  const loop = `(while kill -0 $$ 2>/dev/null; do touch ${quoteShell(file)}; sleep ${every}; done) & exec bash -l`;
  return `sh -c ${quoteShell(loop)}`;
}

export function setupMarkerContent(poseModels: readonly string[] = []): string {
  return `${setupDigest(poseModels)}\n`;
}
