import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  matchHostPatterns,
  matchPattern,
  resolveSshHost,
  resolveSshHostFromText,
} from "../../src/remote/ssh-config.js";

const home = mkdtempSync(join(tmpdir(), "pf-sshcfg-"));
afterAll(() => rmSync(home, { recursive: true, force: true }));
const opts = { home, localUser: "alice" };

describe("ssh config patterns", () => {
  it("matches * and ? and negation like OpenSSH", () => {
    expect(matchPattern("pod-1", "pod-?")).toBe(true);
    expect(matchPattern("pod-12", "pod-?")).toBe(false);
    expect(matchPattern("a.example.com", "*.example.com")).toBe(true);
    expect(matchPattern("POD", "pod")).toBe(true);
    expect(matchPattern("a+b", "a+b")).toBe(true);
    expect(matchHostPatterns("pod", ["*", "!pod"])).toBe(false);
    expect(matchHostPatterns("other", ["*", "!pod"])).toBe(true);
    expect(matchHostPatterns("x", ["!x"])).toBe(false);
  });
});

describe("resolveSshHostFromText", () => {
  const config = `
# global options before any Host apply everywhere
Port 2200

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

Match host pod
  User ignored

Host *
  User fallback
  IdentityFile ~/.ssh/id_default
  Port 22
`;

  it("takes the first value per key and accumulates IdentityFile", () => {
    const pod = resolveSshHostFromText("pod", config, opts);
    expect(pod).toEqual({
      alias: "pod",
      hostName: "203.0.113.7",
      port: 2200,
      user: "root",
      identityFiles: [join(home, ".ssh/runpod_ed25519"), join(home, ".ssh/id_default")],
      fromConfig: true,
    });
  });

  it("lets an earlier block win over a later, more specific one, as OpenSSH does", () => {
    const gpu2 = resolveSshHostFromText("gpu-2", config, opts);
    expect(gpu2.hostName).toBe("203.0.113.7");
    expect(gpu2.port).toBe(2200);
  });

  it("expands tokens and honours negated patterns", () => {
    const web = resolveSshHostFromText("www.example.com", config, opts);
    expect(web.user).toBe("web");
    expect(web.hostName).toBe("www.example.com");
    expect(web.identityFiles[0]).toBe(`${home}/keys/web@www.example.com key`);
    expect(resolveSshHostFromText("bad.example.com", config, opts).user).toBe("fallback");
  });

  it("falls back to the alias, port 22 and the local user", () => {
    const bare = resolveSshHostFromText("10.0.0.5", "", opts);
    expect(bare).toMatchObject({
      hostName: "10.0.0.5",
      port: 22,
      user: "alice",
      identityFiles: [],
      fromConfig: false,
    });
  });

  it("reads ~/.ssh/config and follows Include from the given HOME", () => {
    mkdirSync(join(home, ".ssh", "conf.d"), { recursive: true });
    writeFileSync(join(home, ".ssh", "config"), "Include conf.d/*.conf\nHost *\n  User base\n");
    writeFileSync(
      join(home, ".ssh", "conf.d", "pods.conf"),
      "Host pod\n  HostName 192.0.2.9\n  Port 40022\n",
    );
    expect(resolveSshHost("pod", opts)).toMatchObject({
      hostName: "192.0.2.9",
      port: 40022,
      user: "base",
    });
    expect(
      resolveSshHost("elsewhere", { home: join(home, "missing"), localUser: "bob" }),
    ).toMatchObject({
      hostName: "elsewhere",
      user: "bob",
    });
  });
});
