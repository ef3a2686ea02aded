/**
 * A real OpenSSH sshd on 127.0.0.1 for tests: its own temp folder, generated ed25519 host
 * and client keys, its own sshd_config, run as a foreground child (-D). Logged in as root.
 *
 * Dropping a connection: restarting the listener does not cut established sessions (each
 * runs in its own per-connection sshd process), so dropSessions() kills those processes.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { type SshTargetConfig, sshTargetSchema } from "../../src/config/schema.js";

export interface SshdServer {
  host: string;
  port: number;
  user: string;
  /** Private key the server accepts. */
  identityFile: string;
  /** The temp folder (keys, config, logs). */
  dir: string;
  /** `SHA256:...` of the current host key. */
  hostKeyFingerprint: string;
  /** PID of the listening sshd. */
  readonly pid: number;
  /** Kill every per-connection sshd process: connected clients see the connection drop. */
  dropSessions(): Promise<void>;
  /**
   * Drop every session and start a new listener on the same port; with `newHostKey` the
   * new listener presents a freshly generated host key.
   */
  restart(options?: { newHostKey?: boolean }): Promise<void>;
  /** Stop listening (sessions dropped): clients now get "connection refused" until resume(). */
  pause(): Promise<void>;
  /** Listen again on the same port with the same host key. */
  resume(): Promise<void>;
  /** Stop the listener and every session process: leaves no process behind. */
  stop(): Promise<void>;
}

export interface StartSshdOptions {
  /** Listen on this port (default: a free one). */
  port?: number;
  /** authorized_keys content instead of the generated client key (a fake pod's PUBLIC_KEY). */
  authorizedKeys?: string;
  /** Environment for every session (sshd's SetEnv), like a pod's RUNPOD_* variables. */
  setEnv?: Record<string, string>;
  /** Called with each new host key's fingerprint before the listener presents it. */
  onHostKey?: (fingerprint: string) => void;
  /**
   * Host names only this sshd resolves (name -> IP), as a bastion resolves a private network:
   * sshd runs in its own mount namespace with these added to its /etc/hosts, so a jump
   * through it reaches `pod.internal` while nothing else on the machine can.
   */
  privateHosts?: Record<string, string>;
}

export async function startSshd(options: StartSshdOptions = {}): Promise<SshdServer> {
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const dir = mkdtempSync(join(tmpdir(), "pf-sshd-"));
  const port = options.port ?? (await findFreePort());
  const user = userInfo().username;
  let hostKeyIndex = 0;
  const generateHostKey = (): string => {
    const path = join(dir, `host_ed25519_${hostKeyIndex++}`);
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "pf-test-host", "-f", path]);
    options.onHostKey?.(fingerprintOf(`${path}.pub`));
    return path;
  };
  let hostKey = generateHostKey();
  const identityFile = join(dir, "client_ed25519");
  execFileSync("ssh-keygen", [
    "-q",
    "-t",
    "ed25519",
    "-N",
    "",
    "-C",
    "pf-test-client",
    "-f",
    identityFile,
  ]);
  writeFileSync(
    join(dir, "authorized_keys"),
    options.authorizedKeys ?? readFileSync(`${identityFile}.pub`),
  );
  // One SetEnv line: like most sshd keywords, only its first occurrence counts.
  const pairs = Object.entries(options.setEnv ?? {}).map(([k, v]) => `${k}="${v}"`);
  const setEnv = pairs.length > 0 ? [`SetEnv ${pairs.join(" ")}`] : [];
  let privateHosts: string | undefined;
  if (options.privateHosts) {
    privateHosts = join(dir, "hosts");
    const lines = Object.entries(options.privateHosts).map(([name, ip]) => `${ip} ${name}`);
    writeFileSync(privateHosts, `${readFileSync("/etc/hosts", "utf8")}\n${lines.join("\n")}\n`);
  }

  const writeConfig = (): string => {
    const path = join(dir, "sshd_config");
    writeFileSync(
      path,
      [
        `Port ${port}`,
        "ListenAddress 127.0.0.1",
        `HostKey ${hostKey}`,
        `PidFile ${join(dir, "sshd.pid")}`,
        `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
        "PermitRootLogin yes",
        "StrictModes no",
        "UsePAM no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes",
        "MaxStartups 100",
        "MaxSessions 100",
        "Subsystem sftp internal-sftp",
        "LogLevel ERROR",
        ...setEnv,
        "",
      ].join("\n"),
    );
    return path;
  };

  let child: ChildProcess;
  const startListener = async () => {
    const config = writeConfig();
    const sshd = ["/usr/sbin/sshd", "-D", "-e", "-f", config];
    child = privateHosts
      ? // unshare and sh exec in place: the child's pid is sshd's, as without them.
        spawn(
          "unshare",
          [
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            'mount --bind "$0" /etc/hosts && exec "$@"',
            privateHosts,
            ...sshd,
          ],
          { stdio: ["ignore", "ignore", "pipe"] },
        )
      : spawn(sshd[0]!, sshd.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<never>((_, reject) =>
      child.once("exit", (code) => reject(new Error(`sshd exited (${code}): ${stderr}`))),
    );
    exited.catch(() => {});
    await Promise.race([waitForBanner(port), exited]);
  };
  await startListener();

  const server: SshdServer = {
    host: "127.0.0.1",
    port,
    user,
    identityFile,
    dir,
    hostKeyFingerprint: fingerprintOf(`${hostKey}.pub`),
    get pid() {
      return child.pid!;
    },
    async dropSessions() {
      await killTree(child.pid!, { includeRoot: false, onlySshd: true });
    },
    async restart(options = {}) {
      await killTree(child.pid!, { includeRoot: false, onlySshd: true });
      await stopChild(child);
      if (options.newHostKey) {
        hostKey = generateHostKey();
        server.hostKeyFingerprint = fingerprintOf(`${hostKey}.pub`);
      }
      await startListener();
    },
    async pause() {
      await killTree(child.pid!, { includeRoot: false, onlySshd: true });
      await stopChild(child);
    },
    async resume() {
      await startListener();
    },
    async stop() {
      await killTree(child.pid!, { includeRoot: false, onlySshd: false });
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

export function fingerprintOf(publicKeyPath: string): string {
  const out = execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", publicKeyPath], {
    encoding: "utf8",
  });
  const match = /SHA256:[A-Za-z0-9+/]+/.exec(out);
  if (!match) throw new Error(`no fingerprint in: ${out}`);
  return match[0];
}

/**
 * A free port below the kernel's ephemeral range. A port from listen(0) is an ephemeral one:
 * once closed, any outgoing connection on the machine (the other test files' clients) may be
 * given it before sshd binds it, or between a restart's stop and start, and sshd then exits
 * with "Address already in use"; a client polling it for the banner could even connect to
 * itself. Below the range no connection is ever given the port.
 */
export async function findFreePort(): Promise<number> {
  const low = ephemeralPortsStart();
  for (let attempt = 0; attempt < 100 && low > 10_000; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * (low - 10_000));
    if (await listenOnce(port)) return port;
  }
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      srv.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

function ephemeralPortsStart(): number {
  try {
    const [low] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8")
      .trim()
      .split(/\s+/);
    return Number(low) || 32_768;
  } catch {
    return 32_768; // not Linux: Linux's default
  }
}

/** True when a listener could bind 127.0.0.1:port just now. */
function listenOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

/** Ready when the listener answers with its SSH banner. */
async function waitForBanner(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = new Socket();
      const done = (value: boolean) => {
        socket.destroy();
        resolve(value);
      };
      socket.setTimeout(1000, () => done(false));
      socket.once("error", () => done(false));
      socket.once("data", (d) => done(d.toString().startsWith("SSH-")));
      socket.connect(port, "127.0.0.1");
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`sshd did not answer on port ${port}`);
}

interface ProcInfo {
  pid: number;
  ppid: number;
  comm: string;
  state: string;
}

function listProcesses(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.push({ pid: Number(entry), ppid: Number(fields[1]), comm, state: fields[0]! });
    } catch {
      // The process ended while we listed.
    }
  }
  return out;
}

function descendantsOf(root: number): ProcInfo[] {
  const all = listProcesses();
  const found: ProcInfo[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const p of all) {
      if (p.ppid === parent) {
        found.push(p);
        queue.push(p.pid);
      }
    }
  }
  return found;
}

/** Kill the listener's descendants (only sshd processes, or all), and wait until they are gone. */
async function killTree(
  root: number,
  options: { includeRoot: boolean; onlySshd: boolean },
): Promise<void> {
  const victims = descendantsOf(root).filter(
    (p) => p.state !== "Z" && (!options.onlySshd || p.comm === "sshd"),
  );
  if (options.includeRoot) victims.push({ pid: root, ppid: 0, comm: "sshd", state: "S" });
  for (const p of victims) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  for (let i = 0; i < 100; i++) {
    const alive = new Set(
      listProcesses()
        .filter((p) => p.state !== "Z")
        .map((p) => p.pid),
    );
    if (!victims.some((p) => alive.has(p.pid))) return;
    await sleep(20);
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
  await exited;
  clearTimeout(timer);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A posefactory ssh target for this server (folder storage: these tests never sync). */
export function sshTargetFor(
  server: SshdServer,
  extra: Record<string, unknown> = {},
): SshTargetConfig {
  return sshTargetSchema.parse({
    executor: "ssh",
    host: server.host,
    port: server.port,
    user: server.user,
    identityFile: server.identityFile,
    storage: { type: "fs" },
    ...extra,
  });
}

/** OpenSSH client arguments for this server, as a user's `ssh pod '...'` alias would run. */
export function opensshArgs(server: SshdServer, knownHostsFile: string): string[] {
  return [
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    `UserKnownHostsFile=${knownHostsFile}`,
    "-o",
    "LogLevel=ERROR",
    "-i",
    server.identityFile,
    "-p",
    String(server.port),
    `${server.user}@${server.host}`,
  ];
}
