/**
 * Pods on demand: find ours, price the candidates, create carefully, wait until the pod is
 * usable over SSH, pin its host key by pod id, and terminate. What it hands back is an ssh
 * target (and a connected Executor) that the rest of posefactory uses like any ssh host.
 *
 * Ours means: named `posefactory-<runId|keep>` AND carrying env POSEFACTORY_OWNER=<owner>,
 * a stable id of this user, machine, config file and target. Nothing else on the account is
 * ever stopped or terminated.
 */
import { createHash } from "node:crypto";
import { hostname, userInfo } from "node:os";
import { posix } from "node:path";
import { resolveUserPath } from "../config/credentials.js";
import type { RunpodTargetConfig, SshTargetConfig } from "../config/schema.js";
import type { Context } from "../context.js";
import { InterruptedError, UsageError, UserError } from "../errors.js";
import type { Logger } from "../log.js";
import { type ClientKey, clientKeyPath, ensureClientKey } from "../remote/client-key.js";
import { forgetHost, HostKeyError, knownHostsPath } from "../remote/host-keys.js";
import { quoteShell } from "../remote/shell.js";
import type { Executor } from "../remote/types.js";
import { sleep } from "../sleep.js";
import { RunpodApiError, RunpodClient } from "./client.js";
import { loadRunpodApiKey } from "./credentials.js";
import { podStateDir } from "./pod-side.js";
import type { CreatePodRequest, Pod } from "./types.js";

export const POD_PREFIX = "posefactory-";
export const KEEP_NAME = `${POD_PREFIX}keep`;

export interface PodProvider {
  client: RunpodClient;
  /** Without the Ctrl-C signal: terminating must still work after an interrupt. */
  cleanupClient: RunpodClient;
  target: RunpodTargetConfig;
  targetName: string;
  owner: string;
  logger: Logger;
  signal: AbortSignal;
  env: NodeJS.ProcessEnv;
  home: string;
  baseDir: string;
  knownHostsFile: string;
  clientKey: ClientKey;
}

export function createPodProvider(ctx: Context): PodProvider {
  const { target, targetName, baseDir, path } = ctx.resolved;
  if (target.executor !== "runpod") {
    throw new UsageError(
      `Target \`${targetName}\` is not a RunPod target (executor: ${target.executor}): use --target <a target with executor: runpod>.`,
    );
  }
  if (target.storage.type !== "s3") {
    throw new UsageError(
      `Target \`${targetName}\` runs on a RunPod pod but its storage is a local folder the pod cannot reach: give it \`storage: {type: s3, ...}\``,
    );
  }
  const home = ctx.env.HOME || userInfo().homedir;
  const { apiKey } = loadRunpodApiKey(target, { baseDir, env: ctx.env, home });
  return {
    client: new RunpodClient({
      apiKey,
      baseUrl: ctx.env.RUNPOD_API_URL,
      logger: ctx.logger,
      signal: ctx.signal,
    }),
    cleanupClient: new RunpodClient({
      apiKey,
      baseUrl: ctx.env.RUNPOD_API_URL,
      logger: ctx.logger,
      maxRateLimitWaitMs: 60_000,
    }),
    target,
    targetName,
    owner: ownerId(path ?? baseDir, targetName, ctx.env),
    logger: ctx.logger,
    signal: ctx.signal,
    env: ctx.env,
    home,
    baseDir,
    knownHostsFile: knownHostsPath(home, ctx.env),
    clientKey: ensureClientKey(clientKeyPath(home, ctx.env)),
  };
}

/** Stable across runs of one user with one config and target; different for anyone else. */
export function ownerId(configPath: string, targetName: string, env: NodeJS.ProcessEnv): string {
  let user = env.USER ?? "user";
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (containers): the environment's USER will do.
  }
  return createHash("sha256")
    .update(`${user}@${hostname()}\0${resolveUserPath(configPath, "/")}\0${targetName}`)
    .digest("hex")
    .slice(0, 16);
}

export function podNameFor(runId: string | undefined): string {
  return runId ? `${POD_PREFIX}${runId}` : KEEP_NAME;
}

export function isOurs(pod: Pod, owner: string): boolean {
  return pod.name.startsWith(POD_PREFIX) && pod.env?.POSEFACTORY_OWNER === owner;
}

export async function listOurPods(p: PodProvider): Promise<Pod[]> {
  return (await p.client.listPods()).filter((pod) => isOurs(pod, p.owner));
}

/** Seconds since the pod was created. */
export function podAgeSeconds(pod: Pod, now = Date.now()): number {
  return Math.max(0, (now - Date.parse(pod.createdAt)) / 1000);
}

export interface Candidate {
  gpuType: string;
  dataCenter?: string;
  /** USD per hour for gpuCount GPUs, from the catalog's list price. */
  costPerHour: number;
}

/**
 * The candidates in order (gpuTypes x dataCenters), priced from the catalog, those above
 * maxCostPerHour dropped. None left: a UsageError (exit 2) before anything is created.
 */
export async function priceCandidates(p: PodProvider): Promise<Candidate[]> {
  const { target } = p;
  const cloud = target.cloud.toLowerCase() as "secure" | "community";
  const priced: { gpuType: string; price?: number; dataCenters?: string[] }[] = [];
  for (const gpuType of target.gpuTypes) {
    const info = await p.client.getGpuType(gpuType, {
      count: target.gpuCount,
      cloud: target.cloud,
    });
    if (!info) {
      p.logger.warn(`GPU type \`${gpuType}\` is not in RunPod's catalog: check gpuTypes`);
      priced.push({ gpuType });
      continue;
    }
    const offered = info.dataCenters?.filter((d) => d.availability !== "NONE").map((d) => d.id);
    priced.push({ gpuType, price: info.price[cloud] * target.gpuCount, dataCenters: offered });
  }
  const affordable = priced.filter(
    (c) => c.price !== undefined && c.price <= target.maxCostPerHour,
  );
  const table = priced
    .map((c) => `${c.gpuType}: ${c.price === undefined ? "unknown" : `$${c.price.toFixed(2)}/h`}`)
    .join(", ");
  if (affordable.length === 0) {
    throw new UsageError(
      `No GPU type of target \`${p.targetName}\` is priced at or under maxCostPerHour ($${target.maxCostPerHour}/h, ${target.gpuCount} GPU, ${target.cloud}): ${table}. Nothing was created. Raise maxCostPerHour or list cheaper gpuTypes.`,
    );
  }
  const candidates: Candidate[] = [];
  for (const c of affordable) {
    const centers = target.dataCenters.length > 0 ? target.dataCenters : [undefined];
    for (const dataCenter of centers) {
      // The catalog lists where this GPU is in stock: skip the others without a create.
      if (dataCenter && c.dataCenters && !c.dataCenters.includes(dataCenter)) continue;
      candidates.push({ gpuType: c.gpuType, dataCenter, costPerHour: c.price! });
    }
  }
  const first = affordable[0]!;
  p.logger.info(
    `estimate: ${first.gpuType} at $${first.price!.toFixed(2)}/h (catalog: ${table}); maxRunCost $${target.maxRunCost} stops a run after about ${(target.maxRunCost / first.price!).toFixed(1)} h`,
  );
  if (candidates.length === 0) {
    throw new UserError(
      `None of the data centers ${target.dataCenters.join(", ")} has ${affordable.map((c) => c.gpuType).join(" or ")} in stock: add data centers (or leave dataCenters empty for any).`,
    );
  }
  return candidates;
}

function createRequest(p: PodProvider, name: string, candidate: Candidate): CreatePodRequest {
  const { target } = p;
  const request: CreatePodRequest = {
    name,
    image: target.image,
    gpu: { id: candidate.gpuType, count: target.gpuCount },
    cloud: target.cloud,
    disk: target.diskGb,
    ports: ["22/tcp"],
    env: { PUBLIC_KEY: p.clientKey.publicKey, POSEFACTORY_OWNER: p.owner },
  };
  if (candidate.dataCenter) request.dataCenterIds = [candidate.dataCenter];
  if (target.volumeGb !== undefined)
    request.mounts = { persistent: { size: target.volumeGb, path: "/workspace" } };
  if (target.networkVolumeId)
    request.mounts = { network: [{ volumeId: target.networkVolumeId, path: "/workspace" }] };
  return request;
}

/** Try the candidates in order: 400 (no capacity) and 403 move on, 402 stops. */
export async function createPodCarefully(
  p: PodProvider,
  name: string,
  candidates: Candidate[],
): Promise<{ pod: Pod; candidate: Candidate }> {
  const misses: string[] = [];
  for (const candidate of candidates) {
    const where = `${candidate.gpuType}${candidate.dataCenter ? ` in ${candidate.dataCenter}` : ""}`;
    try {
      const pod = await p.client.createPod(createRequest(p, name, candidate));
      p.logger.info(
        `created pod ${pod.id} (${name}): ${where} at $${(pod.cost || candidate.costPerHour).toFixed(2)}/h`,
      );
      return { pod, candidate };
    } catch (error) {
      if (!(error instanceof RunpodApiError)) throw error;
      if (error.status === 402) {
        throw new UserError(
          `RunPod refused to create a pod: the account's balance is too low (402${error.detail ? `: ${error.detail}` : ""}). Add funds in RunPod's console (Billing), then run again.`,
        );
      }
      if (error.status === 400 || error.status === 403 || error.status === 404) {
        const why = error.status === 403 ? "no access" : "no capacity";
        p.logger.info(
          `${where}: ${why} (${error.status} ${error.detail || error.title}); trying the next candidate`,
        );
        misses.push(`${where}: ${error.status} ${error.detail || error.title}`);
        continue;
      }
      throw new UserError(`RunPod could not create the pod: ${error.message}`, { cause: error });
    }
  }
  throw new UserError(
    `No candidate could be created (nothing is running or billing):\n  ${misses.join("\n  ")}\nAdd GPU types or data centers to the target, or try again later.`,
  );
}

export interface ReadyPod {
  pod: Pod;
  executor: Executor;
  ssh: SshTargetConfig;
  /** ms since the epoch when posefactory started waiting (for "no pod -> usable"). */
  waitStartedAt: number;
}

/** The ssh target a usable pod is reached through: its key is pinned under its pod id. */
export function sshTargetOf(p: PodProvider, pod: Pod): SshTargetConfig {
  const direct = pod.ssh?.direct;
  if (!direct) throw new UserError(`Pod ${pod.id} has no direct SSH address (yet)`);
  return {
    executor: "ssh",
    host: direct.host,
    port: direct.port,
    user: direct.username,
    identityFile: p.clientKey.identityFile,
    hostKey: "accept-new",
    hostKeyAlias: hostKeyAliasOf(pod.id),
    workdir: p.target.workdir,
    blender: p.target.blender,
    python: p.target.python,
    connectTimeoutSeconds: 60,
    storage: p.target.storage,
  };
}

export function hostKeyAliasOf(podId: string): string {
  return `runpod-${podId}`;
}

/** The OpenSSH command line for a pod, with the same pinned key posefactory checks. */
export function sshCommandOf(p: PodProvider, pod: Pod): string[] {
  const ssh = sshTargetOf(p, pod);
  return [
    "ssh",
    "-i",
    p.clientKey.identityFile,
    "-p",
    String(ssh.port),
    "-o",
    `HostKeyAlias=${ssh.hostKeyAlias}`,
    "-o",
    `UserKnownHostsFile=${p.knownHostsFile}`,
    "-o",
    "StrictHostKeyChecking=yes",
    `${ssh.user}@${ssh.host}`,
  ];
}

type Stage = "RUNNING with ssh.direct" | "an SSH banner" | "an authenticated command";

/**
 * Wait until the pod runs, has a direct SSH address, answers with an SSH banner and runs an
 * authenticated command; all within startTimeoutMinutes of `startedAt`. Otherwise terminate
 * it and say which stage never came.
 */
export async function waitForUsablePod(
  p: PodProvider,
  created: Pod,
  startedAt = Date.now(),
  options: { reused?: boolean } = {},
): Promise<ReadyPod> {
  const timeoutMs = p.target.startTimeoutMinutes * 60_000;
  const deadline = startedAt + timeoutMs;
  // Short polls first (a warm pod is up in seconds), then back off to at most 5 s.
  const maxPollMs = Math.min(5000, Math.max(250, timeoutMs / 20));
  let pollMs = Math.min(500, maxPollMs);
  const nextPoll = () => {
    const wait = pollMs;
    pollMs = Math.min(maxPollMs, pollMs * 1.5);
    return wait;
  };
  let stage: Stage = "RUNNING with ssh.direct";
  let lastError = "";
  try {
    let pod = created;
    for (;;) {
      if (pod.status === "RUNNING" && pod.ssh?.direct) break;
      if (pod.status === "EXITED" || pod.status === "ERROR" || pod.status === "TERMINATED") {
        throw new UserError(`Pod ${pod.id} went ${pod.status} while starting`);
      }
      if (Date.now() >= deadline) throw timeout();
      await sleep(nextPoll(), p.signal);
      const now = await p.client.getPod(created.id);
      if (!now) throw new UserError(`Pod ${created.id} disappeared while starting`);
      pod = now;
    }
    const ssh = sshTargetOf(p, pod);
    stage = "an SSH banner";
    const port = ssh.port ?? 22;
    pollMs = Math.min(250, maxPollMs);
    while (!(await hasSshBanner(ssh.host, port, Math.min(5000, deadline - Date.now())))) {
      if (Date.now() >= deadline) throw timeout();
      await sleep(nextPoll(), p.signal);
    }
    stage = "an authenticated command";
    const executor = await connectWithin(p, ssh, deadline, (message) => {
      lastError = message;
    });
    if (!executor) throw timeout();
    await crossCheckHostKey(p, pod, executor);
    p.logger.info(
      `pod ${pod.id} is usable after ${((Date.now() - startedAt) / 1000).toFixed(1)} s (${ssh.user}@${ssh.host}:${ssh.port})`,
    );
    return { pod, executor, ssh, waitStartedAt: startedAt };
  } catch (error) {
    // A pod we reuse that shows a changed host key is refused, not destroyed: its disk may
    // hold results, and the user decides (`pod down`, or `known-hosts forget`).
    if (options.reused && error instanceof HostKeyError) throw error;
    await terminatePod(p, created.id, "it never became usable").catch((e: unknown) =>
      p.logger.warn(`could not terminate pod ${created.id}: ${(e as Error).message}`),
    );
    throw error;
  }

  function timeout(): UserError {
    return new UserError(
      `Pod ${created.id} did not reach ${stage} within ${p.target.startTimeoutMinutes} min (startTimeoutMinutes)${lastError ? ` (last error: ${lastError})` : ""}; terminated it. ` +
        (stage === "RUNNING with ssh.direct"
          ? "RunPod may be slow to place or pull the image: try again, or another GPU type or data center."
          : "The image must start sshd from PUBLIC_KEY (RunPod's official images do) and expose 22/tcp."),
    );
  }
}

async function connectWithin(
  p: PodProvider,
  ssh: SshTargetConfig,
  deadline: number,
  onError: (message: string) => void,
): Promise<Executor | undefined> {
  const { createExecutor } = await import("../remote/index.js");
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) return undefined;
    try {
      const executor = await createExecutor(
        { ...ssh, connectTimeoutSeconds: Math.max(1, left / 1000) },
        { logger: p.logger, baseDir: p.baseDir, env: p.env, home: p.home, signal: p.signal },
      );
      // On a kept pod this is also the first heartbeat: its watchdog's idle clock starts again
      // before anything else is asked of the pod (on a new pod the folder is not there yet).
      const heartbeat = quoteShell(posix.join(podStateDir(p.target.workdir), "heartbeat"));
      const result = await executor.run(`touch ${heartbeat} 2>/dev/null; true`, {
        signal: p.signal,
      });
      if (result.exitCode === 0) return executor;
      await executor.close();
      onError(`\`true\` exited with ${result.exitCode}`);
    } catch (error) {
      if (error instanceof HostKeyError || error instanceof InterruptedError) throw error;
      // sshd may answer before authorized_keys holds our key: keep trying until the deadline.
      onError((error as Error).message.split("\n")[0]!);
    }
    await sleep(Math.min(2000, Math.max(0, deadline - Date.now())), p.signal);
  }
}

/** The image prints its host key fingerprints to the container log: the key must be one of them. */
async function crossCheckHostKey(p: PodProvider, pod: Pod, executor: Executor): Promise<void> {
  const seen = (executor as { hostKeyFingerprint?: string }).hostKeyFingerprint;
  if (!seen) return;
  const lines = await p.client.readLogs(pod.id, { tail: 500 }).catch(() => []);
  const printed = new Set(lines.flatMap((l) => l.line.match(/SHA256:[A-Za-z0-9+/]{43}/g) ?? []));
  if (printed.size === 0) {
    p.logger.debug(
      `pod ${pod.id}: no host key fingerprints in its log; pinned ${seen} on first use`,
    );
    return;
  }
  if (printed.has(seen)) {
    p.logger.debug(`pod ${pod.id}: host key ${seen} matches the pod's log`);
    return;
  }
  await executor.close();
  await forgetHost(p.knownHostsFile, hostKeyAliasOf(pod.id));
  throw new HostKeyError(
    `The SSH host key of pod ${pod.id} (${seen}) is not one the pod printed in its log (${[...printed].join(", ")}): someone may be intercepting the connection. Refusing to use it.`,
  );
}

/** A raw TCP check: does something at host:port speak SSH yet? */
export function hasSshBanner(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return import("node:net").then(
    ({ Socket }) =>
      new Promise<boolean>((resolve) => {
        const socket = new Socket();
        let data = "";
        const done = (ok: boolean) => {
          socket.destroy();
          resolve(ok);
        };
        socket.setTimeout(Math.max(100, timeoutMs), () => done(false));
        socket.once("error", () => done(false));
        socket.once("close", () => done(data.startsWith("SSH-")));
        socket.on("data", (d: Buffer) => {
          data += d.toString("latin1");
          if (data.length >= 4) done(data.startsWith("SSH-"));
        });
        socket.connect(port, host);
      }),
  );
}

/** Terminate one of ours (an already gone pod counts as done). */
export async function terminatePod(p: PodProvider, podId: string, why: string): Promise<void> {
  p.logger.info(`terminating pod ${podId}: ${why}`);
  try {
    await p.cleanupClient.podAction(podId, "terminate");
  } catch (error) {
    if (error instanceof RunpodApiError && (error.status === 404 || error.status === 409)) {
      await p.cleanupClient.deletePod(podId);
      return;
    }
    throw error;
  }
}

export interface EnsureOptions {
  /** The run the pod is for (lifetime run); undefined: the kept pod. */
  runId?: string;
}

/**
 * A usable pod for this run: ours of that name when one is there (started again when it
 * was stopped), else a new one from the priced candidates.
 */
export async function ensurePod(
  p: PodProvider,
  options: EnsureOptions,
): Promise<ReadyPod & { created: boolean; costPerHour: number }> {
  const name = podNameFor(p.target.lifetime === "keep" ? undefined : options.runId);
  const startedAt = Date.now();
  const ours = await listOurPods(p);
  // A pod kept up by `pod up` serves runs of lifetime run too (and stays up after them).
  const kept = ours.find((pod) => pod.name === KEEP_NAME && pod.status === "RUNNING");
  warnAboutOldPods(p, ours, kept?.name ?? name);
  const existing =
    ours.find(
      (pod) => pod.name === name && pod.status !== "TERMINATED" && pod.status !== "ERROR",
    ) ?? kept;
  if (existing) {
    let pod = existing;
    if (pod.status === "EXITED") {
      p.logger.info(`starting our stopped pod ${pod.id} (${name})`);
      try {
        pod = (await p.client.podAction(pod.id, "start")) ?? pod;
        // A started container has fresh host keys (RunPod's start.sh makes them).
        await forgetHost(p.knownHostsFile, hostKeyAliasOf(pod.id));
      } catch (error) {
        if (!(error instanceof RunpodApiError)) throw error;
        p.logger.warn(
          `pod ${pod.id} could not be started (${error.status} ${error.detail || error.title}); terminating it and creating a new one`,
        );
        await terminatePod(p, pod.id, "it could not be started again");
        return createAndWait();
      }
    } else {
      p.logger.info(`reusing our pod ${pod.id} (${name}, ${pod.status})`);
    }
    const ready = await waitForUsablePod(p, pod, startedAt, { reused: true });
    if (existing.status === "EXITED") {
      // A started container has a fresh disk: tools outside the volume are gone, set up again.
      const marker = posix.join(podStateDir(p.target.workdir), "setup.sha256");
      await ready.executor.run(`rm -f ${quoteShell(marker)}`);
    }
    return { ...ready, created: false, costPerHour: ready.pod.cost };
  }
  return createAndWait();

  async function createAndWait() {
    const candidates = await priceCandidates(p);
    const { pod, candidate } = await createPodCarefully(p, name, candidates);
    const ready = await waitForUsablePod(p, pod, startedAt);
    return { ...ready, created: true, costPerHour: ready.pod.cost || candidate.costPerHour };
  }
}

/** Every runpod command lists ours first: a pod left over from an earlier run bills too. */
function warnAboutOldPods(p: PodProvider, ours: Pod[], using: string): void {
  for (const pod of ours) {
    if (pod.name === using) continue;
    const hours = podAgeSeconds(pod) / 3600;
    p.logger.warn(
      `pod ${pod.id} (${pod.name}, ${pod.status}, $${pod.cost.toFixed(2)}/h) has been up ${hours.toFixed(1)} h: \`posefactory pod gc\` terminates ours past their lifetime, \`posefactory pod down ${pod.id}\` this one`,
    );
  }
}

/**
 * The Executor of a runpod target for the single commands (status, logs, stop, exec): our
 * kept pod when it runs, else our newest running pod. Never creates one.
 */
export async function connectToOurPod(p: PodProvider): Promise<Executor> {
  const running = (await listOurPods(p))
    .filter((pod) => pod.status === "RUNNING" && pod.ssh?.direct)
    .sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
  const pod = running.find((x) => x.name === KEEP_NAME) ?? running[0];
  if (!pod) {
    throw new UserError(
      `No running pod of target ${p.targetName}: \`posefactory pod up\` starts one (a finished run's pod is gone with lifetime: run).`,
    );
  }
  const { createExecutor } = await import("../remote/index.js");
  return createExecutor(sshTargetOf(p, pod), {
    logger: p.logger,
    baseDir: p.baseDir,
    env: p.env,
    home: p.home,
    signal: p.signal,
  });
}

export interface ApiCheck {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

/** doctor: the key is accepted, ours are listed, and the first GPU type's price fits the cap. */
export async function checkRunpod(ctx: Context): Promise<ApiCheck[]> {
  let p: PodProvider;
  try {
    p = createPodProvider(ctx);
  } catch (error) {
    return [{ name: "runpod key", ok: false, detail: (error as Error).message }];
  }
  const checks: ApiCheck[] = [];
  try {
    const ours = await listOurPods(p);
    checks.push({
      name: "runpod api",
      ok: true,
      detail: `${p.client.baseUrl}: key accepted; ${ours.length} pod${ours.length === 1 ? "" : "s"} of this target (${ours.map((x) => `${x.id} ${x.status}`).join(", ") || "none"})`,
    });
    const candidates = await priceCandidates(p).catch((error: Error) => error);
    checks.push(
      candidates instanceof Error
        ? { name: "runpod price", ok: false, detail: candidates.message }
        : {
            name: "runpod price",
            ok: true,
            detail: `${candidates[0]!.gpuType} at $${candidates[0]!.costPerHour.toFixed(2)}/h (maxCostPerHour $${p.target.maxCostPerHour})`,
          },
    );
  } catch (error) {
    checks.push({ name: "runpod api", ok: false, detail: (error as Error).message });
  }
  return checks;
}
