/**
 * Resolves a host alias the way OpenSSH reads ~/.ssh/config, for the keys posefactory needs
 * (HostName, Port, User, IdentityFile): the file is read top to bottom, every `Host` block
 * whose patterns match contributes, and for each key the first value obtained wins
 * (IdentityFile accumulates). Patterns use `*` and `?`, `!` negates. `Match` blocks are
 * not evaluated (skipped). `Include` is followed, relative to ~/.ssh.
 */
import { readdirSync, readFileSync } from "node:fs";
import { basename, dirname, isAbsolute, join } from "node:path";

export interface SshHostSettings {
  /** What the user typed (the alias). */
  alias: string;
  hostName: string;
  port: number;
  user: string;
  identityFiles: string[];
  /** True when some Host block other than `*` matched: the alias came from the config. */
  fromConfig: boolean;
}

export interface ResolveOptions {
  home: string;
  /** Local user name: OpenSSH's default remote user. */
  localUser: string;
}

interface Line {
  key: string;
  args: string[];
}

/** Split the file into keyword lines; `Key value`, `Key=value`, quoted arguments. */
export function parseSshConfigLines(text: string): Line[] {
  const lines: Line[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const trimmed = raw.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const match = /^([A-Za-z]+)(?:\s*=\s*|\s+)(.*)$/.exec(trimmed);
    if (!match) continue;
    lines.push({ key: match[1]!.toLowerCase(), args: splitArgs(match[2]!) });
  }
  return lines;
}

function splitArgs(text: string): string[] {
  const args: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const value = m[1] ?? m[2]!;
    if (m[2]?.startsWith("#")) break;
    args.push(value);
  }
  return args;
}

/** OpenSSH's match_pattern: `*` any run, `?` one character; case-insensitive for host names. */
export function matchPattern(value: string, pattern: string): boolean {
  const re = pattern
    .toLowerCase()
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${re}$`).test(value.toLowerCase());
}

/** A `Host` line matches when a positive pattern matches and no negated one does. */
export function matchHostPatterns(host: string, patterns: string[]): boolean {
  let matched = false;
  for (const pattern of patterns) {
    if (pattern.startsWith("!")) {
      if (matchPattern(host, pattern.slice(1))) return false;
    } else if (matchPattern(host, pattern)) {
      matched = true;
    }
  }
  return matched;
}

function expandIncludes(lines: Line[], home: string, depth: number): Line[] {
  if (depth > 8) return lines;
  const out: Line[] = [];
  for (const line of lines) {
    if (line.key !== "include") {
      out.push(line);
      continue;
    }
    for (const arg of line.args) {
      const path = expandTilde(arg, home);
      const full = isAbsolute(path) ? path : join(home, ".ssh", path);
      for (const file of globFile(full)) {
        try {
          out.push(
            ...expandIncludes(parseSshConfigLines(readFileSync(file, "utf8")), home, depth + 1),
          );
        } catch {
          // OpenSSH ignores includes that cannot be read.
        }
      }
    }
  }
  return out;
}

/** Include's glob, for the common case: wildcards in the last path component only. */
function globFile(path: string): string[] {
  const name = basename(path);
  if (!/[*?]/.test(name)) return [path];
  try {
    return readdirSync(dirname(path))
      .filter((entry) => matchPattern(entry, name))
      .sort()
      .map((entry) => join(dirname(path), entry));
  } catch {
    return [];
  }
}

function expandTilde(path: string, home: string): string {
  if (path === "~") return home;
  if (path.startsWith("~/")) return join(home, path.slice(2));
  return path;
}

/** Resolve `alias` against the text of an ssh config file. */
export function resolveSshHostFromText(
  alias: string,
  text: string,
  options: ResolveOptions,
): SshHostSettings {
  const lines = expandIncludes(parseSshConfigLines(text), options.home, 0);
  const found: Record<string, string> = {};
  const identityFiles: string[] = [];
  let active = true; // Lines before the first Host apply to every host.
  let fromConfig = false;
  for (const line of lines) {
    if (line.key === "host") {
      active = matchHostPatterns(alias, line.args);
      if (active && !line.args.every((p) => p === "*")) fromConfig = true;
      continue;
    }
    if (line.key === "match") {
      active = false;
      continue;
    }
    if (!active || line.args.length === 0) continue;
    if (line.key === "identityfile") {
      identityFiles.push(line.args[0]!);
    } else if (["hostname", "port", "user"].includes(line.key) && !(line.key in found)) {
      found[line.key] = line.args[0]!;
    }
  }
  const hostName = (found.hostname ?? alias).replace(/%h/g, alias).replace(/%%/g, "%");
  const port = found.port !== undefined ? Number(found.port) : 22;
  const user = found.user ?? options.localUser;
  const expand = (path: string) =>
    expandTilde(
      path.replace(/%(.)/g, (whole, c: string) => {
        const tokens: Record<string, string> = {
          "%": "%",
          d: options.home,
          h: hostName,
          r: user,
          u: options.localUser,
          p: String(port),
          n: alias,
        };
        return tokens[c] ?? whole;
      }),
      options.home,
    );
  return {
    alias,
    hostName,
    port: Number.isInteger(port) && port > 0 ? port : 22,
    user,
    identityFiles: identityFiles.map(expand),
    fromConfig,
  };
}

/** Resolve `alias` against `<home>/.ssh/config` (a missing file resolves to the alias itself). */
export function resolveSshHost(alias: string, options: ResolveOptions): SshHostSettings {
  let text = "";
  try {
    text = readFileSync(join(options.home, ".ssh", "config"), "utf8");
  } catch {
    // No config: the alias is the host name.
  }
  return resolveSshHostFromText(alias, text, options);
}
