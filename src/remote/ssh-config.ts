/**
 * Resolves a host alias the way OpenSSH does, by asking OpenSSH: `ssh -G <alias>` prints the
 * configuration `ssh <alias>` would use (Match, Include, tokens, wildcards, system config).
 * Only where no OpenSSH client is installed does the `ssh-config` package compute it from
 * ~/.ssh/config (Host and Match host/user/originalhost/localuser/exec; Include is inlined here).
 *
 * ProxyJump is resolved into a route of hops, as OpenSSH builds it: `ProxyJump a,b` reaches b
 * through a and the target through b; the first hop's own config (its own ProxyJump too)
 * applies, later hops are forced through the previous one.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { userInfo } from "node:os";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import SSHConfig from "ssh-config";
import { UsageError } from "../errors.js";

export interface SshHostSettings {
  /** What the user typed (the alias), or the jump spec's host. */
  alias: string;
  hostName: string;
  port: number;
  user: string;
  /** Expanded paths, in OpenSSH's order (may include defaults that do not exist). */
  identityFiles: string[];
  /** `a,b` as in the config; undefined for none. */
  proxyJump?: string;
  /** The command, tokens expanded; undefined for none. */
  proxyCommand?: string;
  /** Who answered: OpenSSH's `ssh -G`, or the `ssh-config` package (no ssh installed). */
  resolvedBy: "openssh" | "ssh-config";
}

export interface ResolveOptions {
  home: string;
  /** Local user name: OpenSSH's default remote user. */
  localUser: string;
  /** Explicit user and port (posefactory's target config, a jump spec): like `ssh -l -p`. */
  user?: string;
  port?: number;
  /** The OpenSSH client to ask; `false`: never ask (use the `ssh-config` package). */
  ssh?: string | false;
  /** Environment for `ssh -G` (its PATH finds ssh; Match exec runs in it). */
  env?: NodeJS.ProcessEnv;
}

/** Resolve `alias` with `ssh -G` when OpenSSH is installed, else with the `ssh-config` package. */
export function resolveSshHost(alias: string, options: ResolveOptions): SshHostSettings {
  if (options.ssh !== false) {
    const resolved = resolveWithOpenSsh(alias, options);
    if (resolved) return resolved;
  }
  let text = "";
  try {
    text = readFileSync(join(options.home, ".ssh", "config"), "utf8");
  } catch {
    // No config: the alias is the host name.
  }
  return resolveSshHostFromText(alias, text, options);
}

/**
 * OpenSSH reads the home of the passwd entry, not $HOME: when posefactory was given another
 * home (tests, a sandbox), point ssh at that home's config (or at none) explicitly.
 */
function configFileArgs(home: string): string[] {
  let realHome: string | undefined;
  try {
    realHome = userInfo().homedir;
  } catch {
    realHome = undefined;
  }
  if (realHome && resolve(realHome) === resolve(home)) return [];
  const file = join(home, ".ssh", "config");
  return ["-F", existsSync(file) ? file : "none"];
}

/** `ssh -G`'s answer, or undefined when there is no OpenSSH client (or one without -G). */
export function resolveWithOpenSsh(
  alias: string,
  options: ResolveOptions,
): SshHostSettings | undefined {
  const args = ["-G", ...configFileArgs(options.home)];
  if (options.user) args.push("-l", options.user);
  if (options.port) args.push("-p", String(options.port));
  let out: string;
  try {
    out = execFileSync(options.ssh || "ssh", [...args, "--", alias], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      env: options.env,
      timeout: 10_000,
    });
  } catch (error) {
    const err = error as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === "ENOENT") return undefined;
    const stderr = String(err.stderr ?? "").trim();
    if (/unknown option -- G|illegal option/i.test(stderr)) return undefined;
    throw new UsageError(
      `ssh -G ${alias} failed: ${stderr || err.message}. Fix the ssh config (${join(options.home, ".ssh", "config")}) or the target's host.`,
    );
  }
  const values = new Map<string, string[]>();
  for (const line of out.split("\n")) {
    const match = /^(\S+)\s+(.*)$/.exec(line.trim());
    if (!match) continue;
    const key = match[1]!.toLowerCase();
    values.set(key, [...(values.get(key) ?? []), match[2]!]);
  }
  const one = (key: string) => values.get(key)?.[0];
  const hostName = one("hostname") ?? alias;
  const port = Number(one("port") ?? 22);
  const user = one("user") ?? options.user ?? options.localUser;
  const tokens = tokensOf({ ...options, alias, hostName, port, user });
  return {
    alias,
    hostName,
    port: Number.isInteger(port) && port > 0 ? port : 22,
    user,
    identityFiles: (values.get("identityfile") ?? []).map((p) => expandPath(p, tokens, options)),
    proxyJump: noneToUndefined(one("proxyjump")),
    proxyCommand: expandOptional(noneToUndefined(one("proxycommand")), tokens),
    resolvedBy: "openssh",
  };
}

/** Resolve `alias` against the text of an ssh config file (the fallback without OpenSSH). */
export function resolveSshHostFromText(
  alias: string,
  text: string,
  options: ResolveOptions,
): SshHostSettings {
  const config = SSHConfig.parse(inlineIncludes(text, options.home, 0));
  const query = options.user ? { Host: alias, User: options.user } : { Host: alias };
  const computed = config.compute(query, { ignoreCase: true }) as Record<
    string,
    string | string[] | undefined
  >;
  const first = (key: string): string | undefined => {
    const value = computed[key];
    if (Array.isArray(value)) return value.length > 0 ? value.join(" ") : undefined;
    return value;
  };
  const hostName = (first("hostname") ?? alias).replace(/%h/g, alias).replace(/%%/g, "%");
  const configPort = Number(first("port") ?? 22);
  const port = options.port ?? (Number.isInteger(configPort) && configPort > 0 ? configPort : 22);
  const user = options.user ?? first("user") ?? options.localUser;
  const tokens = tokensOf({ ...options, alias, hostName, port, user });
  const identity = computed.identityfile;
  const identityFiles =
    identity === undefined ? [] : Array.isArray(identity) ? identity : [identity];
  return {
    alias,
    hostName,
    port,
    user,
    identityFiles: identityFiles.map((p) => expandPath(p, tokens, options)),
    proxyJump: noneToUndefined(first("proxyjump")),
    proxyCommand: expandOptional(noneToUndefined(first("proxycommand")), tokens),
    resolvedBy: "ssh-config",
  };
}

export interface JumpSpec {
  user?: string;
  host: string;
  port?: number;
}

/** ProxyJump's `[user@]host[:port]` and `ssh://[user@]host[:port]`, comma-separated. */
export function parseProxyJump(value: string): JumpSpec[] {
  return value
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "")
    .map((part) => {
      const match = /^(?:ssh:\/\/)?(?:([^@]+)@)?(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(part);
      if (!match)
        throw new UsageError(`ProxyJump ${JSON.stringify(part)} is not [user@]host[:port]`);
      return {
        user: match[1],
        host: match[2]!.replace(/^\[|\]$/g, ""),
        port: match[3] ? Number(match[3]) : undefined,
      };
    });
}

/**
 * The hops to go through, then the target: `[bastion, pod]` for `ProxyJump bastion`, `[pod]`
 * for a direct connection. Each hop is resolved through the ssh config like the target.
 */
export function resolveSshRoute(alias: string, options: ResolveOptions): SshHostSettings[] {
  return routeOf(resolveSshHost(alias, options), options, 0);
}

function routeOf(
  target: SshHostSettings,
  options: ResolveOptions,
  depth: number,
): SshHostSettings[] {
  if (!target.proxyJump) return [target];
  if (depth > 8)
    throw new UsageError(`ProxyJump of ${target.alias} loops (more than 8 nested jump hosts)`);
  const [first, ...rest] = parseProxyJump(target.proxyJump);
  if (!first) return [target];
  const hopOptions = (spec: JumpSpec): ResolveOptions => ({
    home: options.home,
    localUser: options.localUser,
    ssh: options.ssh,
    env: options.env,
    user: spec.user,
    port: spec.port,
  });
  const route = routeOf(resolveSshHost(first.host, hopOptions(first)), options, depth + 1);
  for (const spec of rest) {
    // Like `ssh -J a,b`: b is reached through a, whatever b's own ProxyJump says.
    const hop = resolveSshHost(spec.host, hopOptions(spec));
    route.push({ ...hop, proxyJump: undefined, proxyCommand: undefined });
  }
  // The jump replaces any ProxyCommand (OpenSSH: ProxyJump is a ProxyCommand of its own).
  route.push({ ...target, proxyCommand: undefined });
  return route;
}

function noneToUndefined(value: string | undefined): string | undefined {
  return value === undefined || value.toLowerCase() === "none" ? undefined : value;
}

interface TokenSource extends ResolveOptions {
  alias: string;
  hostName: string;
  port: number;
  user: string;
}

function tokensOf(t: TokenSource): Record<string, string> {
  return {
    "%": "%",
    d: t.home,
    h: t.hostName,
    r: t.user,
    u: t.localUser,
    p: String(t.port),
    n: t.alias,
  };
}

function expandTokens(text: string, tokens: Record<string, string>): string {
  return text.replace(/%(.)/g, (whole, c: string) => tokens[c] ?? whole);
}

function expandOptional(
  text: string | undefined,
  tokens: Record<string, string>,
): string | undefined {
  return text === undefined ? undefined : expandTokens(text, tokens);
}

function expandPath(path: string, tokens: Record<string, string>, options: ResolveOptions): string {
  return expandTilde(expandTokens(path, tokens), options.home);
}

function expandTilde(path: string, home: string): string {
  if (path === "~") return home;
  if (path.startsWith("~/")) return join(home, path.slice(2));
  return path;
}

/** OpenSSH's Include, inlined: relative paths are relative to ~/.ssh, globs in the file name. */
function inlineIncludes(text: string, home: string, depth: number): string {
  if (depth > 8) return text;
  return text
    .split(/\r?\n/)
    .map((line) => {
      const match = /^\s*include(?:\s*=\s*|\s+)(.*)$/i.exec(line);
      if (!match) return line;
      const parts: string[] = [];
      for (const arg of match[1]!.match(/"[^"]*"|\S+/g) ?? []) {
        const path = expandTilde(arg.replace(/^"|"$/g, ""), home);
        const full = isAbsolute(path) ? path : join(home, ".ssh", path);
        for (const file of globFile(full)) {
          try {
            parts.push(inlineIncludes(readFileSync(file, "utf8"), home, depth + 1));
          } catch {
            // OpenSSH ignores includes that cannot be read.
          }
        }
      }
      return parts.join("\n");
    })
    .join("\n");
}

/** Include's glob, for the common case: wildcards in the last path component only. */
function globFile(path: string): string[] {
  const name = basename(path);
  if (!/[*?]/.test(name)) return [path];
  const re = new RegExp(
    `^${name
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
  );
  try {
    return readdirSync(dirname(path))
      .filter((entry) => re.test(entry))
      .sort()
      .map((entry) => join(dirname(path), entry));
  } catch {
    return [];
  }
}
