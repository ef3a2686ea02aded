import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli.js";
import { startJob } from "../../src/jobs/detached.js";
import { createSilentLogger } from "../../src/log.js";
import { createExecutor } from "../../src/remote/index.js";
import { cleanEnv, makeTempDir, runCli } from "../helpers/cli.js";
import { isProcessAlive } from "../helpers/processes.js";
import { type SshdServer, sshTargetFor, startSshd } from "../helpers/sshd.js";

let server: SshdServer;
let temp: ReturnType<typeof makeTempDir>;
let env: NodeJS.ProcessEnv;

function writeConfig(): void {
  writeFileSync(
    join(temp.dir, "posefactory.yaml"),
    [
      "version: 1",
      "target: pod",
      "targets:",
      "  pod:",
      "    executor: ssh",
      `    host: ${server.host}`,
      `    port: ${server.port}`,
      `    user: ${server.user}`,
      `    identityFile: ${server.identityFile}`,
      `    workdir: ${join(temp.dir, "remote-work")}`,
      "    connectTimeoutSeconds: 5",
      "    storage:",
      "      type: fs",
      "",
    ].join("\n"),
  );
}

beforeAll(async () => {
  server = await startSshd();
  temp = makeTempDir("pf-remote-cli-");
  mkdirSync(temp.home, { recursive: true });
  env = cleanEnv({}, temp.home);
  writeConfig();
});

afterAll(async () => {
  await server?.stop();
  temp?.cleanup();
});

const cli = (argv: string[], signal?: AbortSignal) => runCli(argv, { cwd: temp.dir, env, signal });

describe("posefactory exec", () => {
  it("streams output and exits with the remote exit code (0, 3, 255)", async () => {
    const three = await cli(["exec", "--", "echo out; echo problem >&2; exit 3"]);
    expect(three.code).toBe(3);
    expect(three.stdout).toBe("out\n");
    expect(three.stderr).toContain("problem");
    const zero = await cli(["exec", "--", "echo", "two words", "it's"]);
    expect(zero.code).toBe(0);
    expect(zero.stdout).toBe("two words it's\n");
    expect((await cli(["exec", "--", "bash", "-c", "exit 255"])).code).toBe(255);
    const json = await cli(["--json", "exec", "--", "exit 3"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ exitCode: 3 });
  });

  it("prints each line as it arrives, before the remote command ends", async () => {
    const arrivals: { text: string; at: number }[] = [];
    const stdout = new Writable({
      write(chunk, _enc, done) {
        arrivals.push({ text: chunk.toString(), at: Date.now() });
        done();
      },
    });
    const stderr = new Writable({ write: (_c, _e, done) => done() });
    const code = await main(["exec", "--", "echo first; sleep 1; echo second"], {
      cwd: temp.dir,
      env,
      stdout,
      stderr,
    });
    const ended = Date.now();
    expect(code).toBe(0);
    expect(arrivals.map((a) => a.text)).toEqual(["first\n", "second\n"]);
    // "first" was printed while the remote command still had "sleep 1" ahead of it.
    expect(arrivals[0]!.at).toBeLessThan(arrivals[1]!.at);
    expect(arrivals[1]!.at).toBeLessThanOrEqual(ended);
  });

  it("Ctrl-C stops the remote command: exit 130, no remote process left", async () => {
    const pidFile = join(temp.dir, "exec.pid");
    const controller = new AbortController();
    const running = cli(["exec", "--", `echo $$ > ${pidFile}; exec sleep 300`], controller.signal);
    while (!existsSync(pidFile) || readFileSync(pidFile, "utf8").trim() === "") {
      await new Promise((r) => setTimeout(r, 50));
    }
    const pid = Number(readFileSync(pidFile, "utf8"));
    expect(isProcessAlive(pid)).toBe(true);
    controller.abort();
    const result = await running;
    expect(result.code).toBe(130);
    expect(isProcessAlive(pid)).toBe(false);
  });
});

describe("detached jobs from the CLI", () => {
  it("status, logs -f and stop", async () => {
    const ssh = await createExecutor(sshTargetFor(server), {
      logger: createSilentLogger(),
      baseDir: temp.dir,
      home: temp.home,
      env,
    });
    try {
      const workdir = join(temp.dir, "remote-work");
      await startJob(ssh, {
        dir: join(workdir, "runs", "r1"),
        script: "echo begin; sleep 0.5; echo end",
      });
      const status = await cli(["--json", "status", "r1"]);
      expect(status.code).toBe(0);
      expect(["running", "done"]).toContain(JSON.parse(status.stdout).state);
      const logs = await cli(["logs", "r1", "-f"]);
      expect(logs.code).toBe(0);
      expect(logs.stdout).toBe("begin\nend\n");
      const done = await cli(["status", "r1"]);
      expect(done.stdout).toMatch(/^run r1: done, exit code 0, started /);

      await startJob(ssh, { dir: join(workdir, "runs", "r2"), script: "echo waiting; sleep 300" });
      const stopped = await cli(["stop", "r2", "--grace", "1"]);
      expect(stopped.code).toBe(0);
      expect(stopped.stdout).toMatch(/run r2: stopped/);
      expect(JSON.parse((await cli(["--json", "status", "r2"])).stdout)).toMatchObject({
        state: "stopped",
      });
      // bash reports its TERMinated child ("Terminated") after the job's own line.
      expect((await cli(["logs", "r2"])).stdout).toMatch(/^waiting\n/);

      const missing = await cli(["status", "nope"]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain("No job for run nope");
      expect((await cli(["status", "../etc"])).code).toBe(2);
    } finally {
      await ssh.close();
    }
  });
});

describe("known hosts from the CLI", () => {
  it("records, refuses a changed key with the command to forget it, and forgets", async () => {
    expect((await cli(["exec", "--", "true"])).code).toBe(0);
    const listed = await cli(["known-hosts", "list"]);
    expect(listed.stdout).toContain(`${server.host}:${server.port}`);
    expect(listed.stdout).toContain(server.hostKeyFingerprint);
    const old = server.hostKeyFingerprint;
    await server.restart({ newHostKey: true });
    const refused = await cli(["exec", "--", "true"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(old);
    expect(refused.stderr).toContain(server.hostKeyFingerprint);
    expect(refused.stderr).toContain(
      `posefactory known-hosts forget ${server.host}:${server.port}`,
    );
    const forgot = await cli(["known-hosts", "forget", `${server.host}:${server.port}`]);
    expect(forgot.stdout).toContain("forgot 1 key");
    expect((await cli(["exec", "--", "true"])).code).toBe(0);
  });
});

describe("posefactory setup-pod --check", () => {
  it("reports what the host has and exits 3 when it is not set up", async () => {
    const result = await cli(["setup-pod", "--check"]);
    expect(result.code).toBe(3);
    expect(result.stdout).toMatch(/^blender: \d+\.\d+\.\d+/m);
    expect(result.stdout).toMatch(/^rclone: \d+\.\d+\.\d+/m);
    expect(result.stdout).toMatch(/^python: 3\.\d+\.\d+/m);
    expect(result.stdout).toMatch(/^gpu: none/m);
    expect(result.stdout).toMatch(/^disk: \d+\.\d GB free/m);
    expect(result.stdout).toContain("state: not set up");
  });
});
