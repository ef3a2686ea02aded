/**
 * Host key verification. posefactory keeps its own known-hosts file (OpenSSH's line format,
 * so it can be read and edited by hand) instead of touching ~/.ssh/known_hosts. Policies:
 * `strict` (the key must be recorded), `accept-new` (record on first use, refuse a change),
 * or a pinned `SHA256:` fingerprint from the config.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { UserError } from "../errors.js";

export type HostKeyPolicy = "strict" | "accept-new" | `SHA256:${string}`;

/** Refused host key: never retried. */
export class HostKeyError extends UserError {}

export interface KnownHostEntry {
  /** `host` for port 22, else `[host]:port`, as OpenSSH writes it. */
  spec: string;
  type: string;
  /** Base64 of the public key blob. */
  key: string;
}

/** posefactory's own folder for SSH state: $XDG_CONFIG_HOME/posefactory, else ~/.config/posefactory. */
export function posefactoryConfigDir(home: string, env: NodeJS.ProcessEnv = {}): string {
  return join(env.XDG_CONFIG_HOME || join(home, ".config"), "posefactory");
}

export function knownHostsPath(home: string, env: NodeJS.ProcessEnv = {}): string {
  return join(posefactoryConfigDir(home, env), "known_hosts");
}

/** The fingerprint OpenSSH prints: SHA256 of the key blob, base64 without padding. */
export function fingerprintOf(key: Buffer): string {
  return `SHA256:${createHash("sha256").update(key).digest("base64").replace(/=+$/, "")}`;
}

/** The key type is the first string of the SSH wire-format blob (e.g. `ssh-ed25519`). */
export function keyTypeOf(key: Buffer): string {
  if (key.length < 4) return "unknown";
  const length = key.readUInt32BE(0);
  return key.subarray(4, 4 + length).toString("latin1");
}

export function hostSpec(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** How the user names a host in `known-hosts forget`: `host` or `host:port`. */
export function displayHost(host: string, port: number): string {
  return port === 22 ? host : `${host}:${port}`;
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  for (const line of text.split("\n")) {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const [specs, type, key] = trimmed.split(/\s+/);
    if (!specs || !type || !key) continue;
    for (const spec of specs.split(",")) entries.push({ spec, type, key });
  }
  return entries;
}

export async function readKnownHosts(path: string): Promise<KnownHostEntry[]> {
  try {
    return parseKnownHosts(await readFile(path, "utf8"));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
}

async function writeKnownHosts(path: string, entries: KnownHostEntry[]): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const text = entries.map((e) => `${e.spec} ${e.type} ${e.key}\n`).join("");
  // Write then rename: two posefactory processes never leave a half-written file.
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, path);
}

export interface VerifyRequest {
  path: string;
  host: string;
  port: number;
  key: Buffer;
  policy: HostKeyPolicy;
}

export interface VerifyResult {
  fingerprint: string;
  /** True when accept-new recorded the key just now. */
  recorded: boolean;
}

/** Accept the key or throw HostKeyError saying exactly what to do. */
export async function verifyHostKey(request: VerifyRequest): Promise<VerifyResult> {
  const { host, port, key, policy, path } = request;
  const fingerprint = fingerprintOf(key);
  const where = displayHost(host, port);
  if (policy.startsWith("SHA256:")) {
    if (fingerprint === policy) return { fingerprint, recorded: false };
    throw new HostKeyError(
      `Host key of ${where} does not match the pinned fingerprint.\n` +
        `  pinned in config (hostKey): ${policy}\n` +
        `  presented by the host:      ${fingerprint}\n` +
        "If the host was rebuilt, check the new fingerprint out of band and update hostKey in the target's config.",
    );
  }
  const spec = hostSpec(host, port);
  const entries = await readKnownHosts(path);
  const recorded = entries.filter((e) => e.spec === spec);
  const blob = key.toString("base64");
  if (recorded.some((e) => e.key === blob)) return { fingerprint, recorded: false };
  if (recorded.length > 0) {
    const known = recorded
      .map((e) => `${fingerprintOf(Buffer.from(e.key, "base64"))} (${e.type})`)
      .join(", ");
    throw new HostKeyError(
      `HOST KEY CHANGED for ${where}: refusing to connect.\n` +
        `  recorded in ${path}: ${known}\n` +
        `  presented by the host: ${fingerprint} (${keyTypeOf(key)})\n` +
        "Someone may be intercepting the connection, or the host was rebuilt (a new pod on a reused address).\n" +
        `If you trust the new key, forget the old one and connect again:\n  posefactory known-hosts forget ${where}`,
    );
  }
  if (policy === "strict") {
    throw new HostKeyError(
      `Unknown host ${where} (key ${fingerprint}) and hostKey is "strict": refusing to connect.\n` +
        `Check the fingerprint out of band, then pin it with \`hostKey: ${fingerprint}\` in the target's config, ` +
        'or connect once with `hostKey: "accept-new"` to record it.',
    );
  }
  await writeKnownHosts(path, [...entries, { spec, type: keyTypeOf(key), key: blob }]);
  return { fingerprint, recorded: true };
}

/** Parse `host`, `host:port` or `[host]:port` into the specs it names. */
function specsFor(hostArg: string): { host: string; port?: number } {
  const bracket = /^\[(.+)\]:(\d+)$/.exec(hostArg);
  if (bracket) return { host: bracket[1]!, port: Number(bracket[2]) };
  const colon = /^([^:]+):(\d+)$/.exec(hostArg);
  if (colon) return { host: colon[1]!, port: Number(colon[2]) };
  return { host: hostArg };
}

/**
 * Remove recorded keys for `hostArg`. `host` alone removes every port of that host;
 * `host:port` only that port. Returns how many entries were removed.
 */
export async function forgetHost(path: string, hostArg: string): Promise<number> {
  const { host, port } = specsFor(hostArg);
  const entries = await readKnownHosts(path);
  const matches = (spec: string) => {
    const parsed = specsFor(spec);
    const specPort = parsed.port ?? 22;
    return parsed.host === host && (port === undefined || port === specPort);
  };
  const kept = entries.filter((e) => !matches(e.spec));
  if (kept.length !== entries.length) await writeKnownHosts(path, kept);
  return entries.length - kept.length;
}

export interface KnownHostSummary {
  host: string;
  type: string;
  fingerprint: string;
}

export async function listKnownHosts(path: string): Promise<KnownHostSummary[]> {
  return (await readKnownHosts(path)).map((e) => {
    const { host, port } = specsFor(e.spec);
    return {
      host: displayHost(host, port ?? 22),
      type: e.type,
      fingerprint: fingerprintOf(Buffer.from(e.key, "base64")),
    };
  });
}
