import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { startSshd } from "../helpers/sshd.js";

function sshArgs(server: { port: number; identityFile: string; user: string; host: string }) {
  return [
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    "-i",
    server.identityFile,
    "-p",
    String(server.port),
    `${server.user}@${server.host}`,
  ];
}

describe("sshd test helper", () => {
  it("starts a real sshd that OpenSSH's client can log in to, restarts with a new key, stops cleanly", async () => {
    const server = await startSshd();
    try {
      expect(server.hostKeyFingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
      const out = execFileSync("ssh", [...sshArgs(server), "echo hello"], { encoding: "utf8" });
      expect(out).toBe("hello\n");
      const before = server.hostKeyFingerprint;
      const oldPid = server.pid;
      await server.restart({ newHostKey: true });
      expect(server.pid).not.toBe(oldPid);
      expect(server.hostKeyFingerprint).not.toBe(before);
      expect(execFileSync("ssh", [...sshArgs(server), "echo again"], { encoding: "utf8" })).toBe(
        "again\n",
      );
    } finally {
      const pid = server.pid;
      const dir = server.dir;
      await server.stop();
      expect(existsSync(`/proc/${pid}`)).toBe(false);
      expect(existsSync(dir)).toBe(false);
    }
  });
});
