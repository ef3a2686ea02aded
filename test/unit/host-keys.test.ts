import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  fingerprintOf,
  forgetHost,
  keyTypeOf,
  knownHostsPath,
  listKnownHosts,
  verifyHostKey,
} from "../../src/remote/host-keys.js";

const dir = mkdtempSync(join(tmpdir(), "pf-hostkeys-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fakeKey(seed: number): Buffer {
  const type = Buffer.from("ssh-ed25519");
  const len = Buffer.alloc(4);
  len.writeUInt32BE(type.length);
  const body = Buffer.alloc(36, seed);
  return Buffer.concat([len, type, body]);
}

describe("host keys", () => {
  const path = join(dir, "known_hosts");
  it("formats fingerprints like OpenSSH and reads the key type", () => {
    expect(fingerprintOf(fakeKey(1))).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(keyTypeOf(fakeKey(1))).toBe("ssh-ed25519");
    expect(knownHostsPath("/h", {})).toBe("/h/.config/posefactory/known_hosts");
    expect(knownHostsPath("/h", { XDG_CONFIG_HOME: "/x" })).toBe("/x/posefactory/known_hosts");
  });

  it("records on first use, keeps ports apart, forgets by host or host:port", async () => {
    expect(
      (await verifyHostKey({ path, host: "pod", port: 22, key: fakeKey(1), policy: "accept-new" }))
        .recorded,
    ).toBe(true);
    expect(
      (
        await verifyHostKey({
          path,
          host: "pod",
          port: 2222,
          key: fakeKey(2),
          policy: "accept-new",
        })
      ).recorded,
    ).toBe(true);
    expect(
      (await verifyHostKey({ path, host: "pod", port: 22, key: fakeKey(1), policy: "strict" }))
        .recorded,
    ).toBe(false);
    expect(readFileSync(path, "utf8")).toMatch(
      /^pod ssh-ed25519 \S+\n\[pod\]:2222 ssh-ed25519 \S+\n$/,
    );
    await expect(
      verifyHostKey({ path, host: "pod", port: 2222, key: fakeKey(3), policy: "accept-new" }),
    ).rejects.toThrow(
      /HOST KEY CHANGED for pod:2222[\s\S]*posefactory known-hosts forget pod:2222/,
    );
    expect((await listKnownHosts(path)).map((e) => e.host)).toEqual(["pod", "pod:2222"]);
    expect(await forgetHost(path, "pod:2222")).toBe(1);
    expect((await listKnownHosts(path)).map((e) => e.host)).toEqual(["pod"]);
    await verifyHostKey({ path, host: "pod", port: 2222, key: fakeKey(3), policy: "accept-new" });
    expect(await forgetHost(path, "pod")).toBe(2);
    expect(await listKnownHosts(path)).toEqual([]);
  });

  it("checks a pinned fingerprint without touching the file", async () => {
    const pinned = fingerprintOf(fakeKey(4)) as `SHA256:${string}`;
    const other = join(dir, "untouched");
    await verifyHostKey({ path: other, host: "h", port: 22, key: fakeKey(4), policy: pinned });
    await expect(
      verifyHostKey({ path: other, host: "h", port: 22, key: fakeKey(5), policy: pinned }),
    ).rejects.toThrow(fingerprintOf(fakeKey(5)));
    expect(await listKnownHosts(other)).toEqual([]);
  });
});
