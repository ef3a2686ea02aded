import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  parseProxyJump,
  resolveSshHost,
  resolveSshHostFromText,
  resolveSshRoute,
  resolveWithOpenSsh,
} from "../../src/remote/ssh-config.js";

const home = mkdtempSync(join(tmpdir(), "pf-sshcfg-"));
afterAll(() => rmSync(home, { recursive: true, force: true }));
const opts = { home, localUser: "alice" };
mkdirSync(join(home, ".ssh", "conf.d"), { recursive: true });

// Include with an absolute path: OpenSSH resolves relative ones against the passwd home.
writeFileSync(
  join(home, ".ssh", "conf.d", "pods.conf"),
  "Host included\n  HostName 192.0.2.9\n  Port 40022\n",
);
const config = `
# global options before any Host apply everywhere
Port 2200
Include ${join(home, ".ssh", "conf.d")}/*.conf

Match host matched
  User matcher
  Port 2022
  # (the global Port 2200 above came first: it wins, as in OpenSSH)

Host matched
  HostName 198.51.100.50
  ProxyJump jumper@bastion:2201,relay

Host pod gpu-*
  HostName 203.0.113.7
  User root
  IdentityFile ~/.ssh/runpod_ed25519

Host gpu-2
  HostName 198.51.100.2
  Port 2222

Host *.example.com !bad.example.com
  User=web
  IdentityFile "%d/keys/%r@%h key"

Host tunnel
  ProxyCommand ssh -W %h:%p bastion

Host bastion
  HostName 127.0.0.9
  User hopper

Host *
  User fallback
  IdentityFile ~/.ssh/id_default
`;
writeFileSync(join(home, ".ssh", "config"), config);

const ALIASES = [
  "pod",
  "gpu-2",
  "www.example.com",
  "bad.example.com",
  "matched",
  "tunnel",
  "included",
  "10.0.0.5",
];

/** The fields posefactory uses, from either resolver. */
function essentials(alias: string, via: "openssh" | "fallback", user?: string) {
  const o = { ...opts, user };
  const s =
    via === "openssh" ? resolveWithOpenSsh(alias, o)! : resolveSshHostFromText(alias, config, o);
  return {
    hostName: s.hostName,
    port: s.port,
    user: s.user,
    identityFiles: s.identityFiles,
    proxyJump: s.proxyJump,
    proxyCommand: s.proxyCommand,
  };
}

describe("ssh -G is the answer; the ssh-config package agrees where there is no ssh", () => {
  it.each(ALIASES)("%s", (alias) => {
    const openssh = essentials(alias, "openssh");
    expect(essentials(alias, "fallback")).toEqual(openssh);
    expect(essentials(alias, "fallback", "explicit")).toEqual(
      essentials(alias, "openssh", "explicit"),
    );
  });

  it("takes the first value per key, evaluates Match, expands tokens", () => {
    expect(essentials("pod", "openssh")).toMatchObject({
      hostName: "203.0.113.7",
      port: 2200,
      user: "root",
      identityFiles: [join(home, ".ssh/runpod_ed25519"), join(home, ".ssh/id_default")],
    });
    // An earlier block wins over a later, more specific one.
    expect(essentials("gpu-2", "openssh")).toMatchObject({ hostName: "203.0.113.7", port: 2200 });
    expect(essentials("matched", "openssh")).toMatchObject({
      hostName: "198.51.100.50",
      user: "matcher",
      proxyJump: "jumper@bastion:2201,relay",
    });
    expect(essentials("www.example.com", "openssh").identityFiles[0]).toBe(
      `${home}/keys/web@www.example.com key`,
    );
    expect(essentials("bad.example.com", "openssh").user).toBe("fallback");
    expect(essentials("tunnel", "openssh").proxyCommand).toBe("ssh -W tunnel:2200 bastion");
    expect(essentials("included", "openssh")).toMatchObject({ hostName: "192.0.2.9", port: 2200 });
  });

  it("uses OpenSSH when installed and the package when not", () => {
    expect(resolveSshHost("pod", opts).resolvedBy).toBe("openssh");
    const fallback = resolveSshHost("pod", { ...opts, ssh: "/nonexistent/bin/ssh" });
    expect(fallback.resolvedBy).toBe("ssh-config");
    expect(fallback.hostName).toBe("203.0.113.7");
    const bare = resolveSshHost("elsewhere", {
      home: join(home, "missing"),
      localUser: "bob",
      ssh: false,
    });
    expect(bare).toMatchObject({ hostName: "elsewhere", port: 22, user: "bob", identityFiles: [] });
  });

  it("a config OpenSSH refuses is a usage error naming ssh -G's complaint", () => {
    const bad = mkdtempSync(join(tmpdir(), "pf-sshcfg-bad-"));
    try {
      mkdirSync(join(bad, ".ssh"));
      writeFileSync(join(bad, ".ssh", "config"), "Host pod\n  NoSuchKeyword yes\n");
      expect(() => resolveSshHost("pod", { home: bad, localUser: "x" })).toThrow(
        /ssh -G pod failed: .*NoSuchKeyword/is,
      );
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });
});

describe("ProxyJump", () => {
  it("parses [user@]host[:port] lists and ssh:// URIs", () => {
    expect(parseProxyJump("a, bob@b:2200,ssh://carol@c:22,[::1]:23")).toEqual([
      { user: undefined, host: "a", port: undefined },
      { user: "bob", host: "b", port: 2200 },
      { user: "carol", host: "c", port: 22 },
      { user: undefined, host: "::1", port: 23 },
    ]);
  });

  it("resolves each hop through the config, as OpenSSH builds the route", () => {
    for (const ssh of [undefined, false] as const) {
      const route = resolveSshRoute("matched", { ...opts, ssh });
      expect(route.map((h) => `${h.user}@${h.hostName}:${h.port}`)).toEqual([
        "jumper@127.0.0.9:2201",
        "fallback@relay:2200",
        "matcher@198.51.100.50:2200",
      ]);
    }
  });
});
