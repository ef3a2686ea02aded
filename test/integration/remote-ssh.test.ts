import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configSchema, sshTargetSchema } from "../../src/config/schema.js";
import { exitCodeOf, InterruptedError, UserError } from "../../src/errors.js";
import { createSilentLogger } from "../../src/log.js";
import { needsOf, runPreflight } from "../../src/pipeline/preflight.js";
import { checkRemote } from "../../src/remote/doctor.js";
import { knownHostsPath, listKnownHosts } from "../../src/remote/host-keys.js";
import { createExecutor } from "../../src/remote/index.js";
import { buildCommand } from "../../src/remote/shell.js";
import type { Executor } from "../../src/remote/types.js";
import { isProcessAlive } from "../helpers/processes.js";
import { type SshdServer, sshTargetFor, startSshd } from "../helpers/sshd.js";

let server: SshdServer;
let home: string;
const open: Executor[] = [];

beforeAll(async () => {
  server = await startSshd();
  home = mkdtempSync(join(tmpdir(), "pf-home-"));
});

afterAll(async () => {
  for (const ex of open) await ex.close();
  await server?.stop();
  rmSync(home, { recursive: true, force: true });
});

/**
 * The last `count` lines of a stream (each with its newline): a command's own stderr comes after
 * what the login shell's start-up wrote, and this host's ~/.bashrc runs pyenv, which warns
 * ("cannot rehash") while another login rehashes, as the parallel tests' logins do.
 */
function lastLines(text: string, count: number): string {
  return text
    .split("\n")
    .slice(-(count + 1))
    .join("\n");
}

function target(extra: Record<string, unknown> = {}) {
  return sshTargetFor(server, { connectTimeoutSeconds: 10, ...extra });
}

async function connect(extra: Record<string, unknown> = {}, homeDir = home): Promise<Executor> {
  const ex = await createExecutor(target(extra), {
    logger: createSilentLogger(),
    baseDir: homeDir,
    home: homeDir,
    env: { PATH: process.env.PATH },
  });
  open.push(ex);
  return ex;
}

describe("ssh executor against a real sshd", () => {
  it("streams stdout and stderr live and returns the remote exit code", async () => {
    const ex = await connect();
    expect(ex.kind).toBe("ssh");
    const events: { text: string; at: number }[] = [];
    let stderr = "";
    const result = await ex.run("echo first; echo warn >&2; sleep 1; echo second; exit 3", {
      onStdout: (text) => events.push({ text, at: Date.now() }),
      onStderr: (text) => {
        stderr += text;
        events.push({ text, at: Date.now() });
      },
    });
    const ended = Date.now();
    expect(result.exitCode).toBe(3);
    expect(lastLines(stderr, 1)).toBe("warn\n");
    expect(result.stderrTail.split("\n").at(-1)).toBe("warn");
    const first = events.find((e) => e.text.includes("first"))!;
    const second = events.find((e) => e.text.includes("second"))!;
    // Ordering of arrival times, not durations: "first" arrived before "second" was even printed.
    expect(first.at).toBeLessThan(second.at);
    expect(first.at).toBeLessThan(ended);
    expect((await ex.run("true")).exitCode).toBe(0);
    expect((await ex.run("exit 255")).exitCode).toBe(255);
  });

  it("aborting a running sleep leaves no remote process and maps to exit code 130", async () => {
    const ex = await connect();
    const controller = new AbortController();
    let out = "";
    const run = ex.run("sleep 300 & echo $! $$; wait", {
      signal: controller.signal,
      onStdout: (text) => {
        out += text;
        if (out.includes("\n")) controller.abort();
      },
    });
    const error = await run.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InterruptedError);
    expect(exitCodeOf(error)).toBe(130);
    const [sleepPid, bashPid] = out.trim().split(" ").map(Number);
    expect(sleepPid).toBeGreaterThan(1);
    // sshd runs on this machine: the PIDs it reported are ours to check.
    expect(isProcessAlive(sleepPid!)).toBe(false);
    expect(isProcessAlive(bashPid!)).toBe(false);
    // Checked on the host too; a zombie (PID 1 here does not reap) counts as gone.
    const stat = `/proc/${sleepPid}/stat`;
    const check = await ex.run(
      `if [ -r ${stat} ] && ! grep -q ') Z ' ${stat}; then echo alive; else echo gone; fi`,
      {
        onStdout: (t) => {
          out = t;
        },
      },
    );
    expect(check.exitCode).toBe(0);
    expect(out.trim()).toBe("gone");
  });

  it("passes names with spaces, quotes, $, backticks, ;, newlines and non-ASCII byte for byte", async () => {
    const ex = await connect();
    const names = [
      "with space",
      `both 'single' and "double"`,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${} is the point
      "$HOME and ${PATH}",
      "`id` and $(id)",
      "a; rm -rf /tmp/x; echo",
      "line one\nline two",
      "ünïcødé 日本語 🎬",
      "-starts-with-dash",
      "",
    ];
    const dir = join(server.dir, "quoting");
    const result = await ex.run(`${buildCommand(["printf", "%s\\0", ...names])} > args.bin`, {
      cwd: dir,
      env: { PF_ODD: names.join("|") },
    });
    expect(result.exitCode).toBe(0);
    const expected = Buffer.from(names.map((n) => `${n}\0`).join(""), "utf8");
    expect(readFileSync(join(dir, "args.bin"))).toEqual(expected);
    expect(await ex.readFile(join(dir, "args.bin"))).toEqual(expected);
    // The exported value arrives unchanged too.
    let echoed = "";
    await ex.run('printf %s "$PF_ODD"', {
      env: { PF_ODD: names.join("|") },
      onStdout: (t) => {
        echoed += t;
      },
    });
    expect(echoed).toBe(names.join("|"));
    // And a file written through the executor, binary included.
    const binary = Buffer.from([0, 1, 2, 255, 10, 13, 39, 34]);
    await ex.writeFile(join(dir, "name with 'quote'", "bin.dat"), binary);
    expect(readFileSync(join(dir, "name with 'quote'", "bin.dat"))).toEqual(binary);
    expect(await ex.readFile(join(dir, "missing"))).toBeUndefined();
  });

  it("keeps an exported secret out of the host's process list while the script runs", async () => {
    const ex = await connect();
    const secret = `pf-secret-${Math.random().toString(36).slice(2)}`;
    const controller = new AbortController();
    let started = false;
    const run = ex.run('echo started; sleep 30; echo "$PF_SECRET_TOKEN" > /dev/null', {
      env: { PF_SECRET_TOKEN: secret },
      signal: controller.signal,
      onStdout: () => {
        started = true;
      },
    });
    while (!started) await new Promise((r) => setTimeout(r, 50));
    // "started" arrives before bash has exec'ed the sleep: on a busy machine wait for it.
    let ps = "";
    for (let i = 0; i < 200 && !ps.includes("sleep 30"); i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 50));
      ps = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" });
    }
    expect(ps).toContain("sleep 30");
    expect(ps).not.toContain(secret);
    controller.abort();
    await expect(run).rejects.toBeInstanceOf(InterruptedError);
  });

  it("reconnects after the connection drops", async () => {
    const ex = await connect();
    expect((await ex.run("true")).exitCode).toBe(0);
    // Catch at once: the rejection may come while dropSessions() is still being awaited.
    const pending = ex.run("sleep 5").catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 300));
    await server.dropSessions();
    const error = await pending;
    expect((error as Error).name).toBe("ConnectionLostError");
    expect((await ex.run("exit 7")).exitCode).toBe(7);
  });

  it("a prepared shell runs nothing until its run; that run streams, exits and aborts as any", async () => {
    const ex = await connect();
    const marker = join(server.dir, `prepared-${process.pid}.txt`);
    // A run started before the hint does not take the prepared shell: it is still unused.
    const first = ex.run(`echo first > ${marker}.first`);
    ex.prepareRun?.();
    expect((await first).exitCode).toBe(0);
    await new Promise((r) => setTimeout(r, 500));
    expect(
      readdirSync(server.dir).filter((f) => f.startsWith(`prepared-${process.pid}.txt`)),
    ).toEqual([`prepared-${process.pid}.txt.first`]);
    let out = "";
    let err = "";
    const result = await ex.run(`echo "$PF_X $(pwd)"; echo e >&2; echo made > ${marker}; exit 4`, {
      env: { PF_X: "it's x" },
      cwd: join(server.dir, "prepared cwd"),
      onStdout: (t) => (out += t),
      onStderr: (t) => (err += t),
    });
    expect(result.exitCode).toBe(4);
    expect(out).toBe(`it's x ${join(server.dir, "prepared cwd")}\n`);
    expect(lastLines(err, 1)).toBe("e\n");
    expect(readFileSync(marker, "utf8")).toBe("made\n");
    // Abort on a prepared shell stops its process group, as on a fresh one.
    ex.prepareRun?.();
    const controller = new AbortController();
    let pids = "";
    const error = await ex
      .run("sleep 300 & echo $! $$; wait", {
        signal: controller.signal,
        onStdout: (t) => {
          pids += t;
          if (pids.includes("\n")) controller.abort();
        },
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InterruptedError);
    for (const pid of pids.trim().split(" ").map(Number)) expect(isProcessAlive(pid)).toBe(false);
  });

  it("a prepared shell lost with its connection is replaced; an unused one ends with the executor", async () => {
    const ex = await connect();
    expect((await ex.run("true")).exitCode).toBe(0);
    ex.prepareRun?.();
    await new Promise((r) => setTimeout(r, 300));
    await server.dropSessions();
    // Let the client see the connection close (a run in that moment fails as any would).
    await new Promise((r) => setTimeout(r, 500));
    let out = "";
    const result = await ex.run("echo after", { onStdout: (t) => (out += t) });
    expect([result.exitCode, out]).toEqual([0, "after\n"]);
    // Unused, it waits for its script; closing the executor ends it.
    ex.prepareRun?.();
    const waiting = () =>
      sessionProcesses().filter((args) => args === "bash --noprofile --norc -s").length;
    for (let i = 0; i < 50 && waiting() === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(waiting()).toBe(1);
    await ex.close();
    for (let i = 0; i < 50 && waiting() > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(waiting()).toBe(0);
  });
});

describe("runAhead: a script in the next run's shell", () => {
  it("returns the script's output and exit code; the next run continues in that shell, untouched by it", async () => {
    const ex = await connect();
    let out = "";
    let err = "";
    const ahead = await ex.runAhead!(
      'echo "ahead $$ $PF_X $(pwd)"; echo warn >&2; cat; printf "no newline"; exit 3',
      {
        env: { PF_X: "it's x" },
        cwd: join(server.dir, "ahead cwd"),
        onStdout: (t) => (out += t),
        onStderr: (t) => (err += t),
      },
    );
    expect(ahead.exitCode).toBe(3);
    expect(ahead.stderrTail.split("\n").at(-1)).toBe("warn");
    expect(lastLines(err, 1)).toBe("warn\n");
    // `cat` read nothing: the next run's script is not its stdin.
    const [line, rest] = out.split("\n");
    expect(rest).toBe("no newline");
    const [, shellPid, x, cwd] = /^ahead (\d+) (.*) (\/.*)$/.exec(line!)!;
    expect([x, cwd]).toEqual(["it's x", join(server.dir, "ahead cwd")]);
    // The same bash ($$ of a subshell is its parent's), without the script's env or cwd.
    let next = "";
    const result = await ex.run('echo "next $$ $(printenv PF_X || echo unset) $(pwd)"; exit 5', {
      onStdout: (t) => (next += t),
    });
    expect(result.exitCode).toBe(5);
    expect(next).toMatch(new RegExp(`^next ${shellPid} unset /`));
    expect(next).not.toContain("ahead cwd");
    // That shell is used up: the run after it gets a new one.
    let third = "";
    await ex.run("echo $$", { onStdout: (t) => (third += t) });
    expect(third.trim()).not.toBe(shellPid);
  });

  it("a run called while the script runs waits for it and takes its shell", async () => {
    const ex = await connect();
    const marker = join(server.dir, `ahead-${process.pid}.txt`);
    const ahead = ex.runAhead!(`sleep 0.5; echo $$ > ${marker}`);
    let out = "";
    const run = ex.run(`cat ${marker}; echo $$`, { onStdout: (t) => (out += t) });
    expect((await ahead).exitCode).toBe(0);
    expect((await run).exitCode).toBe(0);
    const [written, pid] = out.trim().split("\n");
    expect(written).toBe(pid);
  });

  it("aborting it stops its process group; the next run opens a new shell", async () => {
    const ex = await connect();
    const controller = new AbortController();
    let pids = "";
    const error = await ex.runAhead!("sleep 300 & echo $! $$; wait", {
      signal: controller.signal,
      onStdout: (t) => {
        pids += t;
        if (pids.includes("\n")) controller.abort();
      },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InterruptedError);
    const [sleepPid, shellPid] = pids.trim().split(" ").map(Number);
    expect(isProcessAlive(sleepPid!)).toBe(false);
    expect(isProcessAlive(shellPid!)).toBe(false);
    let out = "";
    const result = await ex.run("echo $$", { onStdout: (t) => (out += t) });
    expect(result.exitCode).toBe(0);
    expect(Number(out.trim())).not.toBe(shellPid);
  });

  it("its shell, never taken, ends with the executor", async () => {
    const ex = await connect();
    const before = sessionProcesses().filter((a) => a === "bash --noprofile --norc -s").length;
    expect((await ex.runAhead!("true")).exitCode).toBe(0);
    const waiting = () =>
      sessionProcesses().filter((a) => a === "bash --noprofile --norc -s").length - before;
    expect(waiting()).toBe(1);
    await ex.close();
    for (let i = 0; i < 50 && waiting() > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(waiting()).toBe(0);
  });
});

describe("connecting", () => {
  it("retries while sshd is not answering yet (a pod that just started) and then connects", async () => {
    await server.pause();
    let resumed = false;
    const resuming = new Promise((r) => setTimeout(r, 1500)).then(async () => {
      await server.resume();
      resumed = true;
    });
    const ex = await connect({ connectTimeoutSeconds: 60 });
    await resuming;
    expect(resumed).toBe(true);
    expect((await ex.run("exit 4")).exitCode).toBe(4);
  });

  it("fails with a clear message after the bounded time", async () => {
    const error = await connect({ port: 1, connectTimeoutSeconds: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(/Could not connect to .* within 1 s/);
  });

  it("resolves a ~/.ssh/config alias from the user's HOME", async () => {
    const aliasHome = mkdtempSync(join(tmpdir(), "pf-alias-home-"));
    try {
      mkdirSync(join(aliasHome, ".ssh"));
      writeFileSync(
        join(aliasHome, ".ssh", "config"),
        [
          "Host pod",
          `  HostName ${server.host}`,
          `  Port ${server.port}`,
          `  User ${server.user}`,
          `  IdentityFile ${server.identityFile}`,
          "Host *",
          "  User nobody-else",
          "",
        ].join("\n"),
      );
      const ex = await createExecutor(
        sshTargetSchema.parse({ executor: "ssh", host: "pod", storage: { type: "fs" } }),
        {
          logger: createSilentLogger(),
          baseDir: aliasHome,
          home: aliasHome,
          env: { PATH: process.env.PATH },
        },
      );
      open.push(ex);
      expect(ex.description).toBe(`${server.user}@pod:${server.port}`);
      let who = "";
      await ex.run("whoami", { onStdout: (t) => (who += t) });
      expect(who.trim()).toBe(server.user);
    } finally {
      rmSync(aliasHome, { recursive: true, force: true });
    }
  });
});

/** Per-connection sshd processes are the listener's direct children. */
/** Command lines of every process below the sshd listener (the sessions' processes). */
function sessionProcesses(): string[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] === "Z") continue;
      const ppid = Number(fields[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // Gone while listing.
    }
  }
  const found: string[] = [];
  const walk = (pid: number) => {
    for (const child of children.get(pid) ?? []) {
      try {
        found.push(readFileSync(`/proc/${child}/cmdline`, "utf8").split("\0").join(" ").trim());
      } catch {
        continue;
      }
      walk(child);
    }
  };
  walk(server.pid);
  return found;
}

function countConnections(): number {
  let count = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) === server.pid && fields[0] !== "Z") count++;
    } catch {
      // Gone while listing.
    }
  }
  return count;
}

describe("one connection, ssh-agent, doctor", () => {
  it("reuses one connection for every run of an executor", async () => {
    const before = countConnections();
    const ex = await connect();
    for (let i = 0; i < 5; i++) expect((await ex.run(`exit ${i}`)).exitCode).toBe(i);
    await ex.readFile("/etc/hostname");
    await ex.writeFile(join(server.dir, "one-connection.txt"), "x");
    expect(countConnections() - before).toBe(1);
  });

  it("authenticates with ssh-agent when SSH_AUTH_SOCK is set and no key file is given", async () => {
    const agentHome = mkdtempSync(join(tmpdir(), "pf-agent-"));
    const sock = join(agentHome, "agent.sock");
    const agent: ChildProcess = spawn("ssh-agent", ["-D", "-a", sock], { stdio: "ignore" });
    try {
      for (let i = 0; i < 100; i++) {
        try {
          execFileSync("ssh-add", ["-l"], { env: { SSH_AUTH_SOCK: sock }, stdio: "ignore" });
          break;
        } catch (error) {
          // Exit 1 = agent up with no keys; 2 = not reachable yet.
          if ((error as { status?: number }).status === 1) break;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      execFileSync("ssh-add", [server.identityFile], {
        env: { SSH_AUTH_SOCK: sock },
        stdio: "ignore",
      });
      const ex = await createExecutor(target({ identityFile: undefined }), {
        logger: createSilentLogger(),
        baseDir: agentHome,
        home: agentHome,
        env: { PATH: process.env.PATH, SSH_AUTH_SOCK: sock },
      });
      open.push(ex);
      expect((await ex.run("exit 9")).exitCode).toBe(9);
      // Without the agent and without a key there is nothing to authenticate with.
      const error = await createExecutor(target({ identityFile: undefined }), {
        logger: createSilentLogger(),
        baseDir: agentHome,
        home: agentHome,
        env: { PATH: process.env.PATH },
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UserError);
      expect((error as Error).message).toMatch(/Authentication failed .*nothing: no key found/);
    } finally {
      agent.kill("SIGTERM");
      await new Promise((r) => agent.once("exit", r));
      rmSync(agentHome, { recursive: true, force: true });
    }
  });

  it("doctor's remote checks: reachable, host key, the run's preflight (tools, GPU, disk)", async () => {
    const config = configSchema.parse({ render: { device: "gpu" } });
    const needs = needsOf(config, target(), { count: 1, inputBytes: 1000 });
    const checks = await checkRemote(target(), {
      connect: () => connect(),
      preflight: (ex) => runPreflight(ex, needs),
    });
    const byName = Object.fromEntries(checks.map((c) => [c.name, c]));
    expect(byName.reachable).toMatchObject({ ok: true });
    expect(byName["host key"]?.detail).toContain(server.hostKeyFingerprint);
    expect(byName["remote blender"]).toMatchObject({ ok: true });
    expect(byName["remote blender"]?.detail).toMatch(/^Blender \d+\.\d+\.\d+$/);
    expect(byName["remote rclone"]?.ok).toBe(true);
    expect(byName["remote python"]?.detail).toMatch(/^Python 3\.\d+\.\d+ /);
    // No mediapipe, no model and no GPU on this machine: reported with what to do.
    expect(byName["remote mediapipe"]).toMatchObject({ ok: false });
    expect(byName["remote mediapipe"]?.detail).toMatch(/cannot import mediapipe/);
    expect(byName["remote mediapipe"]?.fix).toContain("setup-pod");
    expect(byName["remote model"]).toMatchObject({ ok: false });
    expect(byName["remote gpu"]).toMatchObject({ ok: false });
    expect(byName["remote disk"]).toMatchObject({ ok: true });
    const down = await checkRemote(target({ port: 1, connectTimeoutSeconds: 1 }), {
      connect: () => connect({ port: 1, connectTimeoutSeconds: 1 }),
      preflight: (ex) => runPreflight(ex, needs),
    });
    expect(down).toEqual([expect.objectContaining({ name: "reachable", ok: false })]);
  });
});

describe("host keys", () => {
  it("accept-new records, a changed key is refused with both fingerprints, strict refuses unknown hosts", async () => {
    const keyHome = mkdtempSync(join(tmpdir(), "pf-keys-home-"));
    try {
      // strict, nothing recorded yet: refused, nothing written.
      const strict = await connect({ hostKey: "strict" }, keyHome).catch((e: unknown) => e);
      expect(strict).toBeInstanceOf(UserError);
      expect((strict as Error).message).toContain("strict");
      expect((strict as Error).message).toContain(server.hostKeyFingerprint);
      expect(await listKnownHosts(knownHostsPath(keyHome))).toEqual([]);

      // accept-new records the key.
      const first = await connect({}, keyHome);
      await first.close();
      const recorded = await listKnownHosts(knownHostsPath(keyHome));
      expect(recorded).toEqual([
        {
          host: `${server.host}:${server.port}`,
          type: "ssh-ed25519",
          fingerprint: server.hostKeyFingerprint,
        },
      ]);
      // strict now accepts it.
      await (await connect({ hostKey: "strict" }, keyHome)).close();
      // A pinned fingerprint is accepted when it matches.
      await (await connect({ hostKey: server.hostKeyFingerprint }, keyHome)).close();

      // Same host:port, another key: refused with both fingerprints and the forget command.
      const oldFingerprint = server.hostKeyFingerprint;
      await server.restart({ newHostKey: true });
      const changed = await connect({}, keyHome).catch((e: unknown) => e);
      expect(changed).toBeInstanceOf(UserError);
      const message = (changed as Error).message;
      expect(message).toContain(oldFingerprint);
      expect(message).toContain(server.hostKeyFingerprint);
      expect(message).toContain(`posefactory known-hosts forget ${server.host}:${server.port}`);
      const pinned = await connect({ hostKey: oldFingerprint }, keyHome).catch((e: unknown) => e);
      expect((pinned as Error).message).toContain(server.hostKeyFingerprint);
    } finally {
      rmSync(keyHome, { recursive: true, force: true });
    }
  });
});
