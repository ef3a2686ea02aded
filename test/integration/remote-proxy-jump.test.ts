/**
 * SSH like OpenSSH, against two real sshd's: a bastion, and a pod whose HostName
 * (`pf-pod.internal`) only the bastion resolves, so the one way to it is through the bastion.
 * ~/.ssh/config (in a temp HOME) gives the pod's User and Port in a `Match host` block and its
 * HostName and ProxyJump in a `Host` block; posefactory must connect where `ssh -G` says,
 * checking each hop's host key, like OpenSSH's own client does with the same config.
 */
import { execFile } from "node:child_process";
import { lookup } from "node:dns/promises";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sshTargetSchema } from "../../src/config/schema.js";
import { createSilentLogger } from "../../src/log.js";
import { knownHostsPath } from "../../src/remote/host-keys.js";
import { createExecutor } from "../../src/remote/index.js";
import { resolveSshSettings } from "../../src/remote/ssh.js";
import type { Executor } from "../../src/remote/types.js";
import { cleanEnv, runCli } from "../helpers/cli.js";
import { type SshdServer, startSshd } from "../helpers/sshd.js";

const run = promisify(execFile);
const POD_NAME = "pf-pod.internal";

let bastion: SshdServer;
let pod: SshdServer;
let home: string;
let sshConfig: string;
const open: Executor[] = [];

beforeAll(async () => {
  [bastion, pod] = await Promise.all([
    startSshd({ privateHosts: { [POD_NAME]: "127.0.0.1" } }),
    startSshd(),
  ]);
  home = mkdtempSync(join(tmpdir(), "pf-jump-home-"));
  mkdirSync(join(home, ".ssh"));
  sshConfig = join(home, ".ssh", "config");
  writeFileSync(
    sshConfig,
    [
      // Match first: `ssh -G pod` takes User and Port from here (first value wins).
      "Match host pod,pod-via-command",
      `  User ${pod.user}`,
      `  Port ${pod.port}`,
      "Host pod",
      `  HostName ${POD_NAME}`,
      "  ProxyJump bastion",
      `  IdentityFile ${pod.identityFile}`,
      "Host pod-via-command",
      `  HostName ${POD_NAME}`,
      `  ProxyCommand ssh -F ${sshConfig} -W %h:%p bastion`,
      `  IdentityFile ${pod.identityFile}`,
      "Host bastion",
      `  HostName ${bastion.host}`,
      `  Port ${bastion.port}`,
      `  User ${bastion.user}`,
      `  IdentityFile ${bastion.identityFile}`,
      // For OpenSSH's own client (posefactory keeps its own known_hosts).
      "Host *",
      "  BatchMode yes",
      "  StrictHostKeyChecking accept-new",
      `  UserKnownHostsFile ${join(home, "openssh_known_hosts")}`,
      "  LogLevel ERROR",
      "  Port 1",
      "",
    ].join("\n"),
  );
});

afterAll(async () => {
  for (const ex of open) await ex.close().catch(() => {});
  await Promise.all([bastion?.stop(), pod?.stop()]);
  rmSync(home, { recursive: true, force: true });
});

function podTarget(host = "pod", connectTimeoutSeconds = 10) {
  return sshTargetSchema.parse({
    executor: "ssh",
    host,
    storage: { type: "fs" },
    connectTimeoutSeconds,
  });
}

async function connect(
  host = "pod",
  env: NodeJS.ProcessEnv = { PATH: process.env.PATH },
  connectTimeoutSeconds = 10,
) {
  const ex = await createExecutor(podTarget(host, connectTimeoutSeconds), {
    logger: createSilentLogger(),
    baseDir: home,
    home,
    env,
  });
  open.push(ex);
  return ex;
}

/** `$SSH_CONNECTION` on the far end: "client-ip client-port server-ip server-port". */
async function serverEnd(ex: Executor): Promise<string> {
  let out = "";
  const result = await ex.run('echo "$SSH_CONNECTION"', { onStdout: (t) => (out += t) });
  expect(result.exitCode).toBe(0);
  return out.trim();
}

describe("ProxyJump through a bastion, with Match", () => {
  it("the pod's name resolves only on the bastion: there is no direct route", async () => {
    await expect(lookup(POD_NAME)).rejects.toMatchObject({ code: "ENOTFOUND" });
  });

  it("ssh -G says: user and port from Match, HostName and ProxyJump from Host", async () => {
    const { stdout } = await run("ssh", ["-G", "-F", sshConfig, "pod"]);
    expect(stdout).toMatch(new RegExp(`^hostname ${POD_NAME}$`, "m"));
    expect(stdout).toMatch(new RegExp(`^port ${pod.port}$`, "m"));
    expect(stdout).toMatch(/^proxyjump bastion$/m);
    const settings = resolveSshSettings(podTarget(), { home, env: { PATH: process.env.PATH } });
    expect(settings).toMatchObject({
      host: POD_NAME,
      port: pod.port,
      user: pod.user,
      identityFiles: [pod.identityFile],
      resolvedBy: "openssh",
      jumps: [
        {
          alias: "bastion",
          host: bastion.host,
          port: bastion.port,
          identityFiles: [bastion.identityFile],
        },
      ],
    });
  });

  it("connects where OpenSSH's own client connects, and records each hop's host key", async () => {
    const openssh = await run("ssh", ["-F", sshConfig, "pod", 'echo "$SSH_CONNECTION"']);
    const ex = await connect();
    const end = await serverEnd(ex);
    expect(end.split(" ").at(-1)).toBe(String(pod.port));
    expect(end.split(" ").slice(2)).toEqual(openssh.stdout.trim().split(" ").slice(2));
    const known = readFileSync(knownHostsPath(home, {}), "utf8");
    expect(known).toContain(`[${POD_NAME}]:${pod.port} `);
    expect(known).toContain(`[${bastion.host}]:${bastion.port} `);
    await ex.close();
  });

  it("refuses a jump host whose key changed, naming it", async () => {
    await bastion.restart({ newHostKey: true });
    try {
      await expect(connect()).rejects.toThrow(
        new RegExp(
          `HOST KEY CHANGED for \\[?${bastion.host.replace(/\./g, "\\.")}\\]?:${bastion.port}`,
        ),
      );
    } finally {
      const file = knownHostsPath(home, {});
      const kept = readFileSync(file, "utf8")
        .split("\n")
        .filter((line) => !line.startsWith(`[${bastion.host}]:${bastion.port} `));
      writeFileSync(file, kept.join("\n"));
      // OpenSSH's own client (the ProxyCommand below) forgets it too.
      await run("ssh-keygen", [
        "-R",
        `[${bastion.host}]:${bastion.port}`,
        "-f",
        join(home, "openssh_known_hosts"),
      ]);
    }
  });

  it("without an ssh client the ssh-config package resolves the same route", async () => {
    const ex = await connect("pod", { PATH: join(home, "no-ssh-here") });
    expect((ex as unknown as { settings: { resolvedBy: string } }).settings.resolvedBy).toBe(
      "ssh-config",
    );
    expect((await serverEnd(ex)).split(" ").at(-1)).toBe(String(pod.port));
    await ex.close();
  });

  it("ProxyCommand: the command's stdin/stdout is the connection", async () => {
    const ex = await connect("pod-via-command");
    expect((await serverEnd(ex)).split(" ").at(-1)).toBe(String(pod.port));
    await ex.close();
  });

  it("a pod that does not answer: the error says which route was tried", async () => {
    await pod.pause();
    try {
      await expect(connect("pod", { PATH: process.env.PATH }, 2)).rejects.toThrow(
        `(${POD_NAME}:${pod.port} via ${bastion.user}@${bastion.host}:${bastion.port}, as ssh -G says) within 2 s`,
      );
    } finally {
      await pod.resume();
    }
  });

  it("posefactory exec on a ProxyJump alias, from the command line", async () => {
    const project = mkdtempSync(join(tmpdir(), "pf-jump-project-"));
    try {
      writeFileSync(
        join(project, "posefactory.yaml"),
        "target: pod\ntargets:\n  pod:\n    executor: ssh\n    host: pod\n    storage:\n      type: fs\n",
      );
      const result = await runCli(["exec", "--", 'echo "$SSH_CONNECTION"'], {
        cwd: project,
        env: cleanEnv({}, home),
      });
      expect(result.code).toBe(0);
      expect(result.stdout.trim().split(" ").at(-1)).toBe(String(pod.port));
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });
});
