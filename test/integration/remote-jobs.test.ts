import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exitCodeOf, InterruptedError } from "../../src/errors.js";
import { attachJob, getJobStatus, startJob, stopJob } from "../../src/jobs/detached.js";
import { createLogger, createSilentLogger } from "../../src/log.js";
import { createExecutor } from "../../src/remote/index.js";
import { isGroupAlive } from "../../src/remote/local.js";
import type { Executor } from "../../src/remote/types.js";
import { isProcessAlive } from "../helpers/processes.js";
import { type SshdServer, sshTargetFor, startSshd } from "../helpers/sshd.js";

let server: SshdServer;
let work: string;
let ssh: Executor;
let local: Executor;

beforeAll(async () => {
  server = await startSshd();
  work = mkdtempSync(join(tmpdir(), "pf-jobs-"));
  ssh = await createExecutor(sshTargetFor(server), {
    logger: createSilentLogger(),
    baseDir: work,
    home: work,
    env: { PATH: process.env.PATH },
  });
  local = await createExecutor({ executor: "local" } as never, {
    logger: createSilentLogger(),
    baseDir: work,
  });
});

afterAll(async () => {
  await ssh?.close();
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
});

const numbered = (n: number) =>
  Array.from({ length: n }, (_, i) => `line ${String(i + 1).padStart(4, "0")} ünï\n`).join("");

describe.each([
  ["local", () => local],
  ["ssh", () => ssh],
])("detached jobs over the %s executor", (name, executor) => {
  it("runs detached, streams its log, records status and exit code; the env stays off disk and out of ps", async () => {
    const dir = join(work, name, "runs", "run-a");
    const secret = `pf-job-secret-${Math.random().toString(36).slice(2)}`;
    const started = await startJob(executor(), {
      dir,
      script:
        'for i in 1 2 3; do echo "step $i"; sleep 0.2; done; test -n "$PF_TOKEN" && echo has-token; exit 3',
      env: { PF_TOKEN: secret },
    });
    expect(started.state).toBe("running");
    expect(started.pgid).toBe(started.pid);
    const ps = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" });
    expect(ps).not.toContain(secret);
    let text = "";
    const attached = await attachJob(executor(), dir, { onOutput: (t) => (text += t) });
    expect(text).toBe("step 1\nstep 2\nstep 3\nhas-token\n");
    expect(attached.offset).toBe(Buffer.byteLength(text));
    expect(attached.status).toMatchObject({ state: "failed", exitCode: 3 });
    expect(attached.status.seconds).toBeGreaterThan(0);
    expect(attached.status.endedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    for (const file of readdirSync(dir)) {
      expect(readFileSync(join(dir, file), "utf8")).not.toContain(secret);
    }
    // Attaching later replays the whole log without following; from an offset, only the rest.
    let again = "";
    await attachJob(executor(), dir, { onOutput: (t) => (again += t), follow: false });
    expect(again).toBe(text);
    let rest = "";
    await attachJob(executor(), dir, { onOutput: (t) => (rest += t), offset: 7 });
    expect(rest).toBe(text.slice(7));
  });

  it("Ctrl-C while attached stops the job: no process left, state stopped, InterruptedError", async () => {
    const dir = join(work, name, "runs", "run-b");
    const started = await startJob(executor(), { dir, script: "sleep 300 & echo child $!; wait" });
    const controller = new AbortController();
    let text = "";
    const error = await attachJob(executor(), dir, {
      signal: controller.signal,
      onOutput: (t) => {
        text += t;
        if (text.includes("\n")) controller.abort();
      },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InterruptedError);
    expect(exitCodeOf(error)).toBe(130);
    const childPid = Number(/child (\d+)/.exec(text)![1]);
    expect(isProcessAlive(childPid)).toBe(false);
    expect(isGroupAlive(started.pgid)).toBe(false);
    expect(await getJobStatus(executor(), dir)).toMatchObject({ state: "stopped" });
  });

  it("stop ends a detached job that ignores TERM (KILL after the grace period)", async () => {
    const dir = join(work, name, "runs", "run-c");
    const started = await startJob(executor(), {
      dir,
      script: "trap '' TERM; echo ready; sleep 300",
    });
    expect(await getJobStatus(executor(), dir)).toMatchObject({ state: "running" });
    const stopped = await stopJob(executor(), dir, { graceSeconds: 0.5 });
    expect(stopped).toMatchObject({ state: "stopped" });
    expect(isGroupAlive(started.pgid)).toBe(false);
    expect(await stopJob(executor(), join(work, name, "runs", "missing"))).toBeUndefined();
    expect(await getJobStatus(executor(), join(work, name, "runs", "missing"))).toBeUndefined();
  });

  it("a job killed with no final status is reported lost while it is followed", async () => {
    const dir = join(work, name, "runs", "run-lost");
    const started = await startJob(executor(), { dir, script: "echo ready; sleep 300" });
    let text = "";
    const attached = await attachJob(executor(), dir, {
      onOutput: (t) => {
        text += t;
        // KILL leaves no wrapper to write the final status: status.json says running.
        if (text.includes("ready\n")) process.kill(-started.pgid, "SIGKILL");
      },
    });
    expect(text).toBe("ready\n");
    expect(attached.status).toMatchObject({ state: "failed", lost: true });
    expect(isGroupAlive(started.pgid)).toBe(false);
  });
});

describe("attaching over ssh when the connection drops", () => {
  it("the job finishes on the host, the CLI reconnects, the log has no gap and no duplicate", async () => {
    const dir = join(work, "drop", "runs", "run-d");
    const lines = 40;
    await startJob(ssh, {
      dir,
      script: `for i in $(seq 1 ${lines}); do printf 'line %04d ünï\\n' "$i"; sleep 0.1; done`,
    });
    const logLines: string[] = [];
    const logger = createLogger({
      json: true,
      level: "debug",
      stream: new Writable({
        write(chunk, _enc, done) {
          logLines.push(chunk.toString());
          done();
        },
      }),
    });
    let text = "";
    let dropped: Promise<void> | undefined;
    const result = await attachJob(ssh, dir, {
      logger,
      onOutput: (t) => {
        text += t;
        // Restart sshd and kill the session processes: established connections die too.
        if (!dropped && text.includes("line 0010")) dropped = server.restart();
      },
    });
    await dropped;
    expect(dropped).toBeDefined();
    expect(logLines.join("")).toContain("lost; reconnecting");
    expect(logLines.join("")).toContain("reconnected");
    expect(text).toBe(numbered(lines));
    expect(result.status).toMatchObject({ state: "done", exitCode: 0 });
    expect(readFileSync(join(dir, "job.log"), "utf8")).toBe(numbered(lines));
  });
});

describe.each([
  ["local", () => local],
  ["ssh", () => ssh],
])("starting and following in one round trip over the %s executor", (name, executor) => {
  it("streams the whole log from the first byte and returns the final status", async () => {
    const dir = join(work, name, "runs", "run-f");
    let text = "";
    const ended = await startJob(executor(), {
      dir,
      script: 'for i in 1 2 3; do echo "step $i ünï"; sleep 0.2; done; exit 3',
      follow: { onOutput: (t) => (text += t) },
    });
    expect(text).toBe("step 1 ünï\nstep 2 ünï\nstep 3 ünï\n");
    expect(ended).toMatchObject({ state: "failed", exitCode: 3 });
    expect(ended.seconds).toBeGreaterThan(0);
    // The same run again while it runs is refused before anything is written.
    const long = join(work, name, "runs", "run-g");
    await startJob(executor(), { dir: long, script: "sleep 30" });
    const refused = await startJob(executor(), {
      dir: long,
      script: "echo never",
      follow: { onOutput: () => {} },
    }).catch((e: unknown) => e);
    expect(String(refused)).toMatch(/already running/);
    await stopJob(executor(), long, { graceSeconds: 0.5 });
  });

  it("Ctrl-C while following a job it just started stops the job", async () => {
    const dir = join(work, name, "runs", "run-h");
    const controller = new AbortController();
    let text = "";
    const error = await startJob(executor(), {
      dir,
      script: "sleep 300 & echo child $!; wait",
      signal: controller.signal,
      follow: {
        onOutput: (t) => {
          text += t;
          if (text.includes("\n")) controller.abort();
        },
      },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InterruptedError);
    const childPid = Number(/child (\d+)/.exec(text)![1]);
    expect(isProcessAlive(childPid)).toBe(false);
    expect(await getJobStatus(executor(), dir)).toMatchObject({ state: "stopped" });
  });
});

describe("starting and following over ssh when the connection drops", () => {
  it("continues from the bytes delivered: no gap, no duplicate, the final status", async () => {
    const dir = join(work, "drop", "runs", "run-i");
    const lines = 40;
    let text = "";
    let dropped: Promise<void> | undefined;
    const ended = await startJob(ssh, {
      dir,
      script: `for i in $(seq 1 ${lines}); do printf 'line %04d ünï\\n' "$i"; sleep 0.1; done`,
      follow: {
        onOutput: (t) => {
          text += t;
          if (!dropped && text.includes("line 0010")) dropped = server.restart();
        },
      },
    });
    await dropped;
    expect(dropped).toBeDefined();
    expect(text).toBe(numbered(lines));
    expect(ended).toMatchObject({ state: "done", exitCode: 0 });
  });
});
