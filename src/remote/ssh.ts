/**
 * The ssh Executor (ssh2). One connection, reused for everything a command does; every
 * run is an exec channel whose stdin carries the whole script to `bash --noprofile --norc -s`,
 * so secrets and long arguments never reach a command line (a runAhead script and the run
 * after it share one channel: the first ends at a marker, the second ends stdin).
 *
 * Stopping: logged in as root, OpenSSH ignores signal requests and closing a channel
 * leaves the process running. So each run starts under `setsid`, reports its process group
 * on the first stdout line, and an abort terminates that group from a second channel.
 *
 * A dropped connection fails the runs in flight with ConnectionLostError; the next run
 * reconnects (with the same bounded retry as the first connect).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { userInfo } from "node:os";
import { basename, dirname, join } from "node:path";
import { Duplex } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import ssh2, { type AuthMethod, Client, type ClientChannel, type ConnectConfig } from "ssh2";
import type { SshTargetConfig } from "../config/schema.js";
import { InterruptedError, tailLines, UserError } from "../errors.js";
import type { Logger } from "../log.js";
import { sleep } from "../sleep.js";
import { ConnectionLostError } from "./connection.js";
import { HostKeyError, type HostKeyPolicy, knownHostsPath, verifyHostKey } from "./host-keys.js";
import type { CreateExecutorOptions } from "./index.js";
import { MarkerScanner } from "./marker.js";
import {
  BASH_STDIN_ARGS,
  buildCommand,
  buildScript,
  buildStopGroupScript,
  quoteShell,
} from "./shell.js";
import { resolveSshRoute, type SshHostSettings } from "./ssh-config.js";
import type { Executor, RunOptions, RunResult } from "./types.js";

/** One machine on the way: a jump host, or the target itself. */
export interface SshHop {
  /** What the config (or the ProxyJump spec) says. */
  alias: string;
  /** Where to connect (the jump host connects there for the next hop). */
  host: string;
  port: number;
  user: string;
  identityFiles: string[];
}

export interface SshSettings extends SshHop {
  /** ProxyJump hosts, first to last: the target is reached through the last one. */
  jumps: SshHop[];
  /** OpenSSH's ProxyCommand (tokens expanded): its stdin/stdout is the first connection. */
  proxyCommand?: string;
  /** Who resolved the alias: OpenSSH's `ssh -G`, or the `ssh-config` package. */
  resolvedBy: "openssh" | "ssh-config";
  /** ssh-agent socket, when SSH_AUTH_SOCK is set. */
  agent?: string;
  hostKey: HostKeyPolicy;
  /** Record and check the host key under this name, not host:port (a pod id: addresses are reused). */
  hostKeyAlias?: string;
  knownHostsFile: string;
  connectTimeoutSeconds: number;
  /** Seconds between TERM and KILL when a run is aborted. */
  graceSeconds: number;
  keepaliveSeconds: number;
}

const DEFAULT_IDENTITIES = ["id_ed25519", "id_ecdsa", "id_rsa"];
/** OpenSSH's default identity names: `ssh -G` lists them whether they exist or not. */
const OPENSSH_DEFAULT_IDENTITIES = new Set([
  "id_rsa",
  "id_ecdsa",
  "id_ecdsa_sk",
  "id_ed25519",
  "id_ed25519_sk",
  "id_xmss",
  "id_dsa",
]);
const STDERR_TAIL_BYTES = 16 * 1024;
const PGID_PREFIX = "PF_PGID=";

/**
 * Target config + ~/.ssh/config as OpenSSH reads it (`ssh -G`): explicit values in
 * posefactory's config win (like `ssh -l -p -i`), then the alias's settings, then OpenSSH's
 * defaults. A ProxyJump becomes the list of jump hosts, each resolved the same way.
 */
export function resolveSshSettings(
  target: SshTargetConfig,
  options: { home: string; env: NodeJS.ProcessEnv; ssh?: string | false },
): SshSettings {
  const localUser = safeLocalUser(options.env);
  const route = resolveSshRoute(target.host, {
    home: options.home,
    localUser,
    env: options.env,
    ssh: options.ssh,
    user: target.user,
    port: target.port,
  });
  const hopOf = (h: SshHostSettings): SshHop => ({
    alias: h.alias,
    host: h.hostName,
    port: h.port,
    user: h.user,
    identityFiles: identitiesOf(h.identityFiles, options.home),
  });
  const last = route.at(-1)!;
  const final = hopOf(last);
  if (target.identityFile) final.identityFiles = [expandHome(target.identityFile, options.home)];
  return {
    ...final,
    alias: target.host,
    jumps: route.slice(0, -1).map(hopOf),
    proxyCommand: route[0]!.proxyCommand,
    resolvedBy: last.resolvedBy,
    agent: options.env.SSH_AUTH_SOCK || undefined,
    hostKey: target.hostKey as HostKeyPolicy,
    hostKeyAlias: target.hostKeyAlias,
    knownHostsFile: knownHostsPath(options.home, options.env),
    connectTimeoutSeconds: target.connectTimeoutSeconds,
    graceSeconds: 5,
    keepaliveSeconds: 15,
  };
}

/** The config's identity files, minus OpenSSH's defaults that do not exist; else our defaults. */
function identitiesOf(files: string[], home: string): string[] {
  const kept = files.filter(
    (file) =>
      existsSync(file) ||
      !(dirname(file) === join(home, ".ssh") && OPENSSH_DEFAULT_IDENTITIES.has(basename(file))),
  );
  if (kept.length > 0) return kept;
  return DEFAULT_IDENTITIES.map((name) => join(home, ".ssh", name)).filter((p) => existsSync(p));
}

function safeLocalUser(env: NodeJS.ProcessEnv): string {
  try {
    return userInfo().username;
  } catch {
    return env.USER ?? "root";
  }
}

function expandHome(path: string, home: string): string {
  if (path === "~") return home;
  return path.startsWith("~/") ? join(home, path.slice(2)) : path;
}

export async function connectSsh(
  target: SshTargetConfig,
  options: CreateExecutorOptions,
): Promise<SshExecutor> {
  const env = options.env ?? process.env;
  const home = options.home ?? env.HOME ?? userInfo().homedir;
  const settings = resolveSshSettings(target, { home, env });
  const executor = new SshExecutor(settings, options.logger);
  await executor.connect(options.signal);
  return executor;
}

interface ExecResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/**
 * What every run execs: the inner bash reports its process group first, so an abort can stop
 * everything it starts; then it reads the script on stdin. Without setsid (rare), OpenSSH
 * already made the session's shell a process group leader.
 */
const RUN_INNER = `printf '${PGID_PREFIX}%s\\n' "$$"; exec ${buildCommand(["bash", ...BASH_STDIN_ARGS])}`;
const RUN_COMMAND = `if command -v setsid >/dev/null 2>&1; then exec setsid -w bash --noprofile --norc -c ${quoteShell(RUN_INNER)}; else exec bash --noprofile --norc -c ${quoteShell(RUN_INNER)}; fi`;

/** A run's shell started ahead of its script (prepareRun), on the connection it belongs to. */
interface SpareShell {
  client: Client;
  channel: ClientChannel;
  /** Its process group, when a runAhead read the shell's first line already. */
  pgid?: number;
  /** It exited or closed before a run took it (the connection dropped, the host killed it). */
  gone: boolean;
  markGone: () => void;
}

export class SshExecutor implements Executor {
  readonly kind = "ssh" as const;
  readonly description: string;
  private client: Client | undefined;
  private connecting: Promise<Client> | undefined;
  private closed = false;
  /** The host key seen on the last connection (doctor prints it). */
  hostKeyFingerprint: string | undefined;
  /** Runs in flight on the current connection, failed together when it drops. */
  private readonly inFlight = new Set<(error: Error) => void>();
  /** The next run's shell, when prepareRun started one. */
  private spare: Promise<SpareShell | undefined> | undefined;

  constructor(
    readonly settings: SshSettings,
    private readonly logger: Logger,
  ) {
    this.description = `${settings.user}@${settings.alias}:${settings.port}`;
  }

  /** Connect now (commands call this early so a bad host fails before any work). */
  async connect(signal?: AbortSignal): Promise<void> {
    await this.connection(signal);
  }

  private connection(signal?: AbortSignal): Promise<Client> {
    if (this.closed) return Promise.reject(new Error("ssh executor is closed"));
    if (this.client) return Promise.resolve(this.client);
    if (!this.connecting) {
      this.connecting = this.connectWithRetry(signal).finally(() => {
        this.connecting = undefined;
      });
    }
    return this.connecting;
  }

  /** A new pod reports "running" before its sshd answers: retry transient failures, bounded. */
  private async connectWithRetry(signal?: AbortSignal): Promise<Client> {
    const started = Date.now();
    const deadline = started + this.settings.connectTimeoutSeconds * 1000;
    let delay = 250;
    let attempt = 0;
    for (;;) {
      if (signal?.aborted) throw new InterruptedError();
      attempt++;
      try {
        const client = await this.connectOnce();
        this.logger.debug(
          { target: this.description, attempt, ms: Date.now() - started },
          "ssh connected",
        );
        return client;
      } catch (error) {
        if (!isTransient(error)) throw this.explain(error);
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new UserError(
            `Could not connect to ${this.description}${this.route()} within ${this.settings.connectTimeoutSeconds} s ` +
              `(${attempt} attempts; last error: ${(error as Error).message}). ` +
              "Check that the pod is running and that host and port in the target (or its ~/.ssh/config alias) are right; " +
              "raise connectTimeoutSeconds for slow hosts.",
            { cause: error },
          );
        }
        const wait = Math.min(delay * (0.5 + Math.random()), left);
        this.logger.info(
          { target: this.description, attempt, error: (error as Error).message },
          `ssh not reachable yet; retrying in ${(wait / 1000).toFixed(1)} s`,
        );
        await sleep(wait, signal);
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  private explain(error: unknown): Error {
    if (error instanceof UserError) return error;
    const err = error as Error & { level?: string; code?: string; hop?: SshHop };
    const hop = err.hop ?? this.settings;
    const isJump = hop !== this.settings && err.hop !== undefined && this.isJump(err.hop);
    const name = isJump
      ? `jump host ${hop.user}@${hop.alias}:${hop.port} (on the way to ${this.description})`
      : this.description;
    if (err.level === "client-authentication") {
      const tried = [
        ...hop.identityFiles.map((f) => `key ${f}`),
        ...(this.settings.agent ? ["ssh-agent"] : []),
      ];
      return new UserError(
        `Authentication failed for ${name} (tried: ${tried.join(", ") || "nothing: no key found"}). ` +
          "Set `user` and `identityFile` in the target (or in ~/.ssh/config), load the key into ssh-agent, " +
          "and make sure the host has the public key in authorized_keys.",
        { cause: error },
      );
    }
    if (err.code === "ENOTFOUND") {
      return new UserError(
        `Host ${hop.host} not found (${isJump ? name : `target host \`${this.settings.alias}\``}): check the host name or the ~/.ssh/config alias.`,
        { cause: error },
      );
    }
    return err;
  }

  /** " (via bastion, resolved by ssh -G)": where the connection goes, for error messages. */
  private route(): string {
    const { jumps, proxyCommand, host, port, resolvedBy } = this.settings;
    const via = jumps.map((j) => `${j.user}@${j.host}:${j.port}`);
    if (proxyCommand) via.unshift(`ProxyCommand \`${proxyCommand}\``);
    const by = resolvedBy === "openssh" ? "ssh -G" : "~/.ssh/config";
    return ` (${host}:${port}${via.length > 0 ? ` via ${via.join(" -> ")}` : ""}, as ${by} says)`;
  }

  private isJump(hop: SshHop): boolean {
    return this.settings.jumps.includes(hop);
  }

  /**
   * One connection as OpenSSH would make it: through each ProxyJump host (a direct-tcpip
   * channel on the previous hop's connection carries the next handshake) or over a
   * ProxyCommand's stdin/stdout, each hop's host key checked against posefactory's known_hosts.
   */
  private async connectOnce(): Promise<Client> {
    const hops = [...this.settings.jumps, this.settings];
    const jumps: Client[] = [];
    const proxy = this.settings.proxyCommand
      ? this.startProxyCommand(this.settings.proxyCommand)
      : undefined;
    let sock: Duplex | undefined = proxy?.stream;
    const closeAll = () => {
      for (const jump of jumps.reverse()) jump.end();
      proxy?.stop();
    };
    try {
      for (const [i, hop] of hops.entries()) {
        if (i < hops.length - 1) {
          const jump = await this.handshake(hop, sock, false);
          jumps.push(jump);
          sock = await forwardTo(jump, hops[i + 1]!);
          continue;
        }
        const client = await this.handshake(hop, sock, true);
        // The jump connections and the proxy live exactly as long as the target's.
        if (jumps.length > 0 || proxy) client.once("close", closeAll);
        return client;
      }
      throw new Error("no hop to connect to");
    } catch (error) {
      closeAll();
      throw error;
    }
  }

  /** Spawn the ProxyCommand, as OpenSSH does, with `sh -c`; its stdio is the connection. */
  private startProxyCommand(command: string): { stream: Duplex; stop: () => void } {
    const child = spawn("/bin/sh", ["-c", command], { stdio: ["pipe", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-STDERR_TAIL_BYTES);
      this.logger.debug({ proxyCommand: command }, d.toString().trimEnd());
    });
    const stream = Duplex.from({ readable: child.stdout, writable: child.stdin });
    child.once("error", (error) => stream.destroy(error));
    child.once("exit", (code) => {
      if (code === 0) return;
      // Its stderr says why (OpenSSH prints it too): a socket error carrying it.
      stream.destroy(
        Object.assign(
          new Error(
            `ProxyCommand \`${command}\` exited with code ${code}${stderr.trim() ? `: ${tailLines(stderr)}` : ""}`,
          ),
          { level: "client-socket" },
        ),
      );
    });
    return {
      stream,
      stop: () => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      },
    };
  }

  private handshake(hop: SshHop, sock: Duplex | undefined, isTarget: boolean): Promise<Client> {
    return new Promise<Client>((resolve, reject) => {
      const client = new Client();
      let hostKeyError: Error | undefined;
      let ready = false;
      const failHandshake = (error: Error) => reject(Object.assign(error, { hop }));
      const config: ConnectConfig = {
        ...(sock ? { sock } : { host: hop.host, port: hop.port }),
        username: hop.user,
        readyTimeout: 20_000,
        keepaliveInterval: this.settings.keepaliveSeconds * 1000,
        keepaliveCountMax: 4,
        authHandler: this.authMethods(hop),
        hostVerifier: (key: Buffer, verify: (valid: boolean) => void) => {
          verifyHostKey({
            path: this.settings.knownHostsFile,
            host: isTarget && this.settings.hostKeyAlias ? this.settings.hostKeyAlias : hop.host,
            port: isTarget && this.settings.hostKeyAlias ? 22 : hop.port,
            key,
            policy: isTarget ? this.settings.hostKey : jumpHostKeyPolicy(this.settings.hostKey),
          }).then(
            (result) => {
              if (isTarget) this.hostKeyFingerprint = result.fingerprint;
              if (result.recorded) {
                const name = (isTarget && this.settings.hostKeyAlias) || hop.host;
                this.logger.info(
                  { host: name, fingerprint: result.fingerprint },
                  `recorded the host key of ${name} in ${this.settings.knownHostsFile}`,
                );
              }
              verify(true);
            },
            (error: Error) => {
              hostKeyError = error;
              verify(false);
            },
          );
        },
      } as ConnectConfig;
      client.once("ready", () => {
        ready = true;
        if (isTarget) this.client = client;
        this.logger.debug(
          { host: hop.host, port: hop.port, user: hop.user, via: sock ? "jump/proxy" : "tcp" },
          isTarget ? "ssh target connected" : "ssh jump host connected",
        );
        resolve(client);
      });
      client.on("error", (error: Error) => {
        if (!ready) failHandshake(hostKeyError ?? error);
        else this.logger.debug({ error: error.message }, "ssh connection error");
      });
      client.once("close", () => {
        if (!ready) {
          failHandshake(
            hostKeyError ??
              Object.assign(new Error("connection closed during handshake"), {
                level: "client-socket",
              }),
          );
          return;
        }
        if (!isTarget) return;
        if (this.client === client) this.client = undefined;
        const lost = new ConnectionLostError(`connection to ${this.description} lost`);
        for (const fail of this.inFlight) fail(lost);
        this.inFlight.clear();
      });
      client.connect(config);
      // At once, not on "ready": with Nagle on, the client's small packets of the key exchange
      // and authentication wait for the server's delayed ACK (~40 ms each on Linux), which made
      // a connect 80 ms instead of 35 ms to a local sshd. ssh2 creates its socket in connect().
      client.setNoDelay(true);
    });
  }

  private authMethods(hop: SshHop): AuthMethod[] {
    const methods: AuthMethod[] = [];
    const username = hop.user;
    for (const file of hop.identityFiles) {
      let key: Buffer;
      try {
        key = readFileSync(file);
      } catch (error) {
        this.logger.warn(
          { file },
          `cannot read identity file ${file}: ${(error as Error).message}`,
        );
        continue;
      }
      const parsed = ssh2.utils.parseKey(key);
      if (parsed instanceof Error) {
        this.logger.warn(
          { file },
          `skipping ${file}: ${parsed.message} (posefactory does not ask for passphrases; add the key to ssh-agent)`,
        );
        continue;
      }
      methods.push({ type: "publickey", username, key } as AuthMethod);
    }
    if (this.settings.agent)
      methods.push({ type: "agent", username, agent: this.settings.agent } as AuthMethod);
    return methods;
  }

  /** Open an exec channel; fails fast with ConnectionLostError when the connection drops. */
  private async openChannel(command: string, signal?: AbortSignal): Promise<ClientChannel> {
    const client = await this.connection(signal);
    return new Promise<ClientChannel>((resolve, reject) => {
      client.exec(command, (error, channel) => {
        if (error) {
          if (!this.client || this.client !== client)
            reject(new ConnectionLostError(error.message));
          else reject(error);
          return;
        }
        resolve(channel);
      });
    });
  }

  async run(script: string, options: RunOptions = {}): Promise<RunResult> {
    if (options.signal?.aborted) throw new InterruptedError();
    const text = buildScript({ script, env: options.env, cwd: options.cwd });
    // Taken before the first await: a prepareRun() after this call is for the next run.
    const spare = this.spare;
    this.spare = undefined;
    const shell = await this.takeSpare(spare);
    const channel = shell?.channel ?? (await this.openChannel(RUN_COMMAND, options.signal));
    return this.drive(channel, shell?.pgid, options, { text });
  }

  /**
   * run() in the shell the next run() takes, which then waits for that run's script: the two
   * share one session and one login (the rc files), and the next run starts at once. The
   * script runs in a subshell with stdin from /dev/null (its exports, cd and exit stay there;
   * it cannot read the next script), and ends at a marker with a random name on stdout (with
   * its exit code) and on stderr (marker.ts). A run() called meanwhile waits for it, then
   * takes the shell.
   */
  async runAhead(script: string, options: RunOptions = {}): Promise<RunResult> {
    if (options.signal?.aborted) throw new InterruptedError();
    const marker = `PF_AHEAD_${randomBytes(8).toString("hex")}`;
    const text = [
      "(",
      `${buildScript({ script, env: options.env, cwd: options.cwd })}) </dev/null`,
      `printf '\\0${marker} %s\\n' "$?"`,
      `printf '\\0${marker}\\n' >&2`,
      "",
    ].join("\n");
    const previous = this.spare;
    let handOver: (shell: SpareShell | undefined) => void = () => undefined;
    // The next run's shell, once this script is done (undefined: it failed, open another).
    this.spare = new Promise((resolve) => (handOver = resolve));
    try {
      const shell = await this.takeSpare(previous);
      const channel = shell?.channel ?? (await this.openChannel(RUN_COMMAND, options.signal));
      // Ended at the markers: the shell waits for the next script. Else it is gone.
      let next: SpareShell | undefined;
      const result = await this.drive(channel, shell?.pgid, options, {
        text,
        marker,
        onMarkers: (pgid) => {
          next = this.keepAsSpare(channel, pgid);
        },
      });
      handOver(next);
      return result;
    } catch (error) {
      handOver(undefined);
      throw error;
    }
  }

  /** A channel whose bash waits for its next script, as a spare for the next run(). */
  private keepAsSpare(channel: ClientChannel, pgid: number | undefined): SpareShell | undefined {
    const client = this.client;
    if (!client || this.closed) {
      channel.end();
      return undefined;
    }
    return watchSpare(client, channel, pgid);
  }

  /**
   * Send `text` to a run's shell and stream its output. Without `marker` stdin ends after the
   * text and the run is over when the channel closes; with it, the run is over at the marker
   * lines (runAhead) and the channel stays open. `pgid`: the shell's process group when its
   * first line was read already (a shell that ran a runAhead).
   */
  private drive(
    channel: ClientChannel,
    knownPgid: number | undefined,
    options: RunOptions,
    how: {
      text: string;
      marker?: string;
      /** The markers arrived (the shell waits for its next script), with its process group. */
      onMarkers?: (pgid: number | undefined) => void;
    },
  ): Promise<RunResult> {
    const { signal } = options;
    const encoding = options.encoding ?? "utf8";
    const stdoutDecoder = new StringDecoder(encoding);
    const stderrDecoder = new StringDecoder(encoding);
    let header = Buffer.alloc(0);
    let pgid = knownPgid;
    let onPgid: (() => void) | undefined;
    let stderrTail = "";
    const { marker } = how;
    const outEnd = marker ? new MarkerScanner(`\0${marker} `) : undefined;
    const errEnd = marker ? new MarkerScanner(`\0${marker}\n`) : undefined;

    return new Promise<RunResult>((resolve, reject) => {
      let settled = false;
      let aborted = false;
      let stopping: Promise<void> | undefined;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener("abort", onAbort);
        this.inFlight.delete(fail);
        if (marker) {
          channel.removeListener("data", onData);
          channel.stderr.removeListener("data", onStderrData);
          channel.removeListener("exit", onExit);
          channel.removeListener("close", onClose);
        }
        fn();
      };
      const fail = (error: Error) => finish(() => reject(error));
      this.inFlight.add(fail);

      const stopGroup = async () => {
        if (pgid === undefined) await new Promise<void>((r) => (onPgid = r));
        if (pgid === undefined || !Number.isInteger(pgid)) return;
        this.logger.debug(
          { pgid, target: this.description },
          "aborting remote script: stopping its process group",
        );
        try {
          await this.exec(
            buildCommand(["bash", ...BASH_STDIN_ARGS]),
            buildStopGroupScript(pgid!, this.settings.graceSeconds),
          );
        } catch (error) {
          this.logger.warn(
            { error: (error as Error).message },
            "could not stop the remote process group",
          );
        }
      };
      const onAbort = () => {
        aborted = true;
        stopping = stopGroup();
        // If the group is gone but the channel lingers, do not wait for ever.
        stopping.then(() =>
          setTimeout(() => finish(() => reject(new InterruptedError())), 2000).unref(),
        );
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      // Aborted while connecting or starting: the event has already fired.
      if (signal?.aborted) onAbort();

      // A runAhead's script is over when both of its markers arrived.
      const maybeDone = () => {
        if (outEnd?.found === undefined || errEnd?.found === undefined) return;
        const code = Number(outEnd.found.trim());
        how.onMarkers?.(pgid);
        finish(() =>
          resolve({
            exitCode: Number.isInteger(code) ? code : 1,
            stderrTail: tailLines(stderrTail),
          }),
        );
      };
      const onData = (data: Buffer) => {
        if (pgid === undefined) {
          header = Buffer.concat([header, data]);
          const newline = header.indexOf(10);
          if (newline < 0) return;
          const line = header.subarray(0, newline).toString("latin1");
          pgid = line.startsWith(PGID_PREFIX) ? Number(line.slice(PGID_PREFIX.length)) : Number.NaN;
          onPgid?.();
          data = header.subarray(newline + 1);
          header = Buffer.alloc(0);
          if (data.length === 0) return;
        }
        let chunk = stdoutDecoder.write(data);
        if (outEnd) chunk = outEnd.push(chunk);
        if (chunk) options.onStdout?.(chunk);
        maybeDone();
      };
      const onStderrData = (data: Buffer) => {
        let chunk = stderrDecoder.write(data);
        if (errEnd) chunk = errEnd.push(chunk);
        if (chunk) {
          stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL_BYTES);
          options.onStderr?.(chunk);
        }
        maybeDone();
      };
      let exitCode: number | undefined;
      const onExit = (code: number | null, signalName?: string) => {
        exitCode = code ?? 128 + signalNumber(signalName);
      };
      const onClose = () => {
        onPgid?.();
        const flush = (rest: string, scanner: MarkerScanner | undefined) =>
          scanner ? scanner.end(rest) : rest;
        const restOut = flush(stdoutDecoder.end(), outEnd);
        if (restOut) options.onStdout?.(restOut);
        const restErr = flush(stderrDecoder.end(), errEnd);
        if (restErr) options.onStderr?.(restErr);
        if (aborted) {
          void (stopping ?? Promise.resolve()).then(() =>
            finish(() => reject(new InterruptedError())),
          );
          return;
        }
        if (exitCode === undefined) {
          // No exit status: the connection went away under the channel.
          fail(
            new ConnectionLostError(
              `connection to ${this.description} lost during a remote script`,
            ),
          );
          return;
        }
        const code = exitCode;
        finish(() => resolve({ exitCode: code, stderrTail: tailLines(stderrTail) }));
      };
      channel.on("data", onData);
      channel.stderr.on("data", onStderrData);
      channel.on("exit", onExit);
      channel.on("close", onClose);
      if (marker) channel.write(how.text);
      else channel.end(how.text);
    });
  }

  /**
   * Start the next run's shell now, so that run does not wait for it: every exec first runs
   * the remote account's login shell with its rc files (root's ~/.bashrc on a box with pyenv:
   * ~80 ms) and then our bash. That bash waits for its script on stdin: nothing of the run
   * happens on the host before run() sends it. A run() already called does not take it; an
   * unused one ends (end of stdin: an empty script) when the executor closes.
   */
  prepareRun(): void {
    if (this.closed || this.spare) return;
    this.spare = this.connection()
      .then(
        (client) =>
          new Promise<SpareShell | undefined>((resolve) => {
            client.exec(RUN_COMMAND, (error, channel) => {
              if (error) {
                resolve(undefined);
                return;
              }
              resolve(watchSpare(client, channel));
            });
          }),
      )
      .catch(() => undefined); // the run opens its own channel and meets the error there
  }

  /** The prepared shell when it is still usable on the current connection. */
  private async takeSpare(
    pending: Promise<SpareShell | undefined> | undefined,
  ): Promise<SpareShell | undefined> {
    const shell = await pending;
    if (!shell) return undefined;
    shell.channel.removeListener("exit", shell.markGone);
    shell.channel.removeListener("close", shell.markGone);
    if (!shell.gone && shell.client === this.client) return shell;
    shell.channel.close();
    return undefined;
  }

  /** A plain exec (no process-group wrapper): small helper commands and file transfer. */
  private async exec(command: string, stdin?: string | Buffer): Promise<ExecResult> {
    const channel = await this.openChannel(command);
    return new Promise<ExecResult>((resolve, reject) => {
      const out: Buffer[] = [];
      let stderr = "";
      let code: number | undefined;
      const fail = (error: Error) => reject(error);
      this.inFlight.add(fail);
      channel.on("data", (d: Buffer) => out.push(d));
      channel.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      channel.on("exit", (c: number | null, signalName?: string) => {
        code = c ?? 128 + signalNumber(signalName);
      });
      channel.on("close", () => {
        this.inFlight.delete(fail);
        if (code === undefined)
          reject(new ConnectionLostError(`connection to ${this.description} lost`));
        else resolve({ code, stdout: Buffer.concat(out), stderr });
      });
      channel.end(stdin ?? "");
    });
  }

  async readFile(path: string): Promise<Buffer | undefined> {
    const p = quoteShell(path);
    const result = await this.exec(`if [ -f ${p} ]; then exec cat -- ${p}; else exit 44; fi`);
    if (result.code === 44) return undefined;
    if (result.code !== 0)
      throw new Error(`cannot read ${path} on ${this.description}: ${result.stderr.trim()}`);
    return result.stdout;
  }

  async writeFile(path: string, data: string | Buffer): Promise<void> {
    const p = quoteShell(path);
    const tmp = quoteShell(`${path}.pf-tmp-${process.pid}`);
    // Write then rename, so a reader never sees half a file.
    const result = await this.exec(
      `mkdir -p -- "$(dirname -- ${p})" && cat > ${tmp} && mv -f -- ${tmp} ${p}`,
      data,
    );
    if (result.code !== 0)
      throw new Error(`cannot write ${path} on ${this.description}: ${result.stderr.trim()}`);
  }

  async close(): Promise<void> {
    this.closed = true;
    const spare = this.spare;
    this.spare = undefined;
    void spare?.then((shell) => shell?.channel.end());
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    await new Promise<void>((resolve) => {
      client.once("close", () => resolve());
      client.end();
      setTimeout(resolve, 2000).unref();
    });
  }
}

/** A shell waiting for its next script, marked gone when its channel exits or closes. */
function watchSpare(client: Client, channel: ClientChannel, pgid?: number): SpareShell {
  const shell: SpareShell = {
    client,
    channel,
    pgid,
    gone: false,
    markGone: () => {
      shell.gone = true;
    },
  };
  channel.once("exit", shell.markGone);
  channel.once("close", shell.markGone);
  return shell;
}

/** Jump hosts are not the pinned target: record them on first use unless the target is strict. */
function jumpHostKeyPolicy(policy: HostKeyPolicy): HostKeyPolicy {
  return policy === "strict" ? "strict" : "accept-new";
}

/** A direct-tcpip channel from the jump host to the next hop: the next connection's socket. */
function forwardTo(jump: Client, next: SshHop): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    jump.forwardOut("127.0.0.1", 0, next.host, next.port, (error, channel) => {
      if (error) {
        reject(
          Object.assign(
            new Error(
              `the jump host could not connect to ${next.host}:${next.port}: ${error.message}`,
            ),
            { level: "client-socket", hop: next },
          ),
        );
        return;
      }
      resolve(channel);
    });
  });
}

function isTransient(error: unknown): boolean {
  if (error instanceof HostKeyError || error instanceof UserError) return false;
  const err = error as { level?: string; code?: string; message?: string };
  if (err.level === "client-authentication") return false;
  if (err.code === "ENOTFOUND") return false;
  if (err.level === "client-socket" || err.level === "client-timeout") return true;
  return (
    [
      "ECONNREFUSED",
      "ECONNRESET",
      "ETIMEDOUT",
      "EHOSTUNREACH",
      "ENETUNREACH",
      "EAI_AGAIN",
      "EPIPE",
    ].includes(err.code ?? "") || /handshake|timed out|connection lost/i.test(err.message ?? "")
  );
}

function signalNumber(name: string | undefined): number {
  const numbers: Record<string, number> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGKILL: 9,
    SIGPIPE: 13,
    SIGTERM: 15,
  };
  return numbers[name ?? ""] ?? 0;
}
