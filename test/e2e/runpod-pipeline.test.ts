/**
 * The runpod target end to end against the fake RunPod API: real sshd "pods" on loopback,
 * s3rver as R2, rclone and Debian's Blender on the "pod" side, the watchdog calling the fake
 * with the pod's own key. Detection is off: these tests are about the pod's lifecycle.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runRecordSchema } from "../../src/pipeline/run-record.js";
import { RunpodClient } from "../../src/runpod/client.js";
import { podStateDir, setupMarkerContent } from "../../src/runpod/pod-side.js";
import { getSampleCharacters } from "../helpers/blender.js";
import { BIN, cleanEnv, makeTempDir, runCli } from "../helpers/cli.js";
import {
  type FakeRunpod,
  type FakeRunpodOptions,
  startFakeRunpod,
} from "../helpers/fake-runpod.js";
import { type S3rverHandle, startS3rver } from "../helpers/s3rver.js";

const API_KEY = `rpa_USERKEY_${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
let s3: S3rverHandle;
let temp: ReturnType<typeof makeTempDir>;
let project: string;
let workdir: string;
let characterFile: string;

function writeConfig(overrides: Record<string, string> = {}): void {
  const settings: Record<string, string> = {
    gpuTypes: '["NVIDIA A40", "NVIDIA RTX A6000"]',
    workdir,
    maxCostPerHour: "1",
    idleMinutes: "0.05",
    startTimeoutMinutes: "1",
    setup: "skip",
    storage: `{type: s3, endpoint: '${s3.endpoint}', bucket: pf-rp, prefix: rp/}`,
    ...overrides,
  };
  writeFileSync(
    join(project, "posefactory.yaml"),
    [
      "target: gpu",
      "frames: {step: 40}",
      "cameras: {azimuthsDeg: [0, 180], elevationsDeg: [10]}",
      "render: {engine: BLENDER_WORKBENCH, resolution: [96, 96]}",
      "detect: {enabled: false}",
      "targets:",
      "  gpu:",
      "    executor: runpod",
      ...Object.entries(settings).map(([k, v]) => `    ${k}: ${v}`),
      "",
    ].join("\n"),
  );
}

function envFor(fake: FakeRunpod, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return cleanEnv(
    {
      POSEFACTORY_S3_ACCESS_KEY_ID: "S3RVER",
      POSEFACTORY_S3_SECRET_ACCESS_KEY: "S3RVER",
      RUNPOD_API_KEY: API_KEY,
      RUNPOD_API_URL: fake.url,
      ...extra,
    },
    temp.home,
  );
}

async function until(what: string, condition: () => boolean, ms = 120_000): Promise<void> {
  for (let waited = 0; waited < ms; waited += 100) {
    if (condition()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function jobFile(runId: string, file: string): string {
  const path = join(workdir, "runs", runId, file);
  return existsSync(path) ? readFileSync(path, "utf8") : "";
}

function newestRun(): string | undefined {
  const runs = join(workdir, "runs");
  return existsSync(runs) ? readdirSync(runs).sort().at(-1) : undefined;
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((f) => join(dir, f))
    .filter((f) => {
      try {
        return readFileSync(f).length >= 0;
      } catch {
        return false;
      }
    });
}

function onlyPod(fake: FakeRunpod) {
  const pods = [...fake.pods.values()];
  expect(pods).toHaveLength(1);
  return pods[0]!;
}

async function withFake<T>(
  options: Partial<FakeRunpodOptions>,
  body: (fake: FakeRunpod) => Promise<T>,
): Promise<T> {
  const fake = await startFakeRunpod({
    apiKey: API_KEY,
    provisioningMs: 200,
    startingMs: 200,
    sshAssignMs: 200,
    sshdDelayMs: 200,
    ...options,
  });
  try {
    return await body(fake);
  } finally {
    await fake.stop();
  }
}

beforeAll(async () => {
  s3 = await startS3rver({ buckets: ["pf-rp"] });
  temp = makeTempDir("pf-rp-e2e-");
  project = join(temp.dir, "project");
  workdir = join(temp.dir, "pod");
  mkdirSync(join(project, "characters"), { recursive: true });
  characterFile = join(project, "characters", "walker.fbx");
  copyFileSync((await getSampleCharacters()).fbx, characterFile);
}, 300_000);

afterAll(async () => {
  await s3?.stop();
  temp?.cleanup();
});

describe("pipeline --target runpod", { timeout: 400_000 }, () => {
  it("no pod -> create (next GPU on no capacity, through 429 and 5xx) -> results -> TERMINATED, cost in run.json and `runs`", async () => {
    writeConfig();
    await withFake({ noCapacity: ["NVIDIA A40"] }, async (fake) => {
      fake.fail({ method: "GET", path: "/catalog/gpus/NVIDIA A40", status: 503 });
      fake.fail({ method: "POST", path: "/pods", status: 429, retryAfter: 1 });
      const env = envFor(fake);
      const logFile = join(temp.dir, "run1.log");
      const started = Date.now();
      let psSeen = "";
      const sampler = setInterval(() => {
        psSeen += execFileSync("ps", ["-eo", "args"], { encoding: "utf8" });
      }, 500);
      const result = await runCli(["--json", "--log-file", logFile, "pipeline"], {
        cwd: project,
        env,
      }).finally(() => clearInterval(sampler));
      expect(result.code, result.stderr).toBe(0);
      const runId = JSON.parse(result.stdout).runId as string;
      const pod = onlyPod(fake);
      expect(pod.status).toBe("TERMINATED");
      expect(pod.gpu.id).toBe("NVIDIA RTX A6000");
      expect(pod.name).toBe(`posefactory-${runId}`);
      expect(pod.env.POSEFACTORY_OWNER).toMatch(/^[0-9a-f]{16}$/);
      expect(pod.actions).toEqual([{ action: "terminate", by: "user" }]);
      const runDir = join(project, "data", "runs", runId);
      expect(
        readdirSync(join(runDir, "renders"), { recursive: true, encoding: "utf8" }).filter((f) =>
          f.endsWith(".png"),
        ),
      ).toHaveLength(4);
      const record = runRecordSchema.parse(
        JSON.parse(readFileSync(join(runDir, "run.json"), "utf8")),
      );
      expect(record.status).toBe("ok");
      expect(record.target.executor).toBe("runpod");
      expect(record.pod).toMatchObject({
        id: pod.id,
        gpuType: "NVIDIA RTX A6000",
        dataCenter: "EU-SE-1",
        costPerHour: 0.49,
        lifetime: "run",
        end: "terminated",
      });
      expect(record.pod!.seconds).toBeGreaterThan(0);
      expect(record.cost!.usd).toBeCloseTo((record.pod!.seconds / 3600) * 0.49, 6);
      const runs = await runCli(["runs"], { cwd: project, env });
      expect(runs.stdout).toContain(pod.id);
      expect(runs.stdout).toMatch(/\$0\.\d\d/);

      // What the note reports: calls by endpoint, and no pod -> job started minus the fake's delays.
      const status = JSON.parse(jobFile(runId, "status.json")) as { startedAtMs: number };
      const fakeDelays = 200 * 4;
      console.log(
        `[runpod] calls per pipeline: ${JSON.stringify(fake.counts())}; no pod -> job started: ${status.startedAtMs - started} ms, minus the fake's ${fakeDelays} ms of delays: ${status.startedAtMs - started - fakeDelays} ms`,
      );
      // The account's key is nowhere: output, logs, ps, the pod's disk, the pod's requests.
      for (const text of [
        result.stdout,
        result.stderr,
        readFileSync(logFile, "utf8"),
        psSeen,
        runs.stdout,
      ])
        expect(text).not.toContain(API_KEY);
      for (const file of [...filesUnder(workdir), ...filesUnder(join(project, "data"))])
        expect(readFileSync(file, "latin1"), file).not.toContain(API_KEY);
      expect(fake.requests.filter((r) => r.by === "user").length).toBeGreaterThan(0);
    });
  });

  it("refuses (exit 2, no create) when every GPU type is above maxCostPerHour", async () => {
    writeConfig({ maxCostPerHour: "0.2" });
    await withFake({}, async (fake) => {
      const result = await runCli(["pipeline"], { cwd: project, env: envFor(fake) });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain("maxCostPerHour ($0.2/h");
      expect(result.stderr).toContain("NVIDIA A40: $0.40/h");
      expect(fake.counts()["POST /pods"] ?? 0).toBe(0);
    });
  });

  it("402 (balance) stops with a message and creates nothing", async () => {
    writeConfig();
    await withFake({}, async (fake) => {
      fake.fail({ method: "POST", path: "/pods", status: 402, detail: "insufficient balance" });
      const result = await runCli(["pipeline"], { cwd: project, env: envFor(fake) });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain("balance is too low");
      expect(fake.pods.size).toBe(0);
      expect(fake.counts()["POST /pods"]).toBe(1);
    });
  });

  it("terminates a pod that never gets SSH at the deadline, naming the stage", async () => {
    writeConfig({ startTimeoutMinutes: "0.1" });
    await withFake({ neverSsh: true }, async (fake) => {
      const result = await runCli(["pipeline"], { cwd: project, env: envFor(fake) });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain("did not reach an SSH banner within 0.1 min");
      expect(result.stderr).toContain("terminated it");
      expect(onlyPod(fake).status).toBe("TERMINATED");
    });
  });

  it("maxRunCost stops the run and terminates the pod", async () => {
    writeConfig({ maxRunCost: "0.0001" });
    await withFake({}, async (fake) => {
      const result = await runCli(["pipeline", "--force"], { cwd: project, env: envFor(fake) });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain("reached maxRunCost ($0.0001)");
      expect(onlyPod(fake).status).toBe("TERMINATED");
    });
  });

  it("Ctrl-C mid-render terminates the pod", async () => {
    writeConfig();
    await withFake({}, async (fake) => {
      const before = newestRun();
      const controller = new AbortController();
      const pipeline = runCli(["pipeline", "--force"], {
        cwd: project,
        env: envFor(fake),
        signal: controller.signal,
      });
      await until("the render to start", () => {
        const run = newestRun();
        return run !== before && !!run && jobFile(run, "job.log").includes("rendering");
      });
      controller.abort();
      const result = await pipeline;
      expect(result.code).toBe(130);
      expect(onlyPod(fake).status).toBe("TERMINATED");
    });
  });

  it("CLI SIGKILLed mid-render: the job finishes and pushes, the watchdog terminates the pod after idleMinutes", async () => {
    writeConfig();
    await withFake({}, async (fake) => {
      const before = newestRun();
      const child: ChildProcess = spawn(process.execPath, [BIN, "pipeline", "--force"], {
        cwd: project,
        env: envFor(fake),
        stdio: "ignore",
      });
      let runId = "";
      await until("the render to start", () => {
        const run = newestRun();
        if (run && run !== before && jobFile(run, "job.log").includes("rendering")) runId = run;
        return runId !== "";
      });
      child.kill("SIGKILL");
      const pod = onlyPod(fake);
      await until(
        "the watchdog to terminate the pod",
        () => pod.status === "TERMINATED",
        120_000,
      ).catch((error: Error) => {
        const log = join(podStateDir(workdir), "watchdog.log");
        throw new Error(
          `${error.message}\n${existsSync(log) ? readFileSync(log, "utf8") : "no watchdog.log"}\n${jobFile(runId, "job.log")}\n${jobFile(runId, "status.json")}`,
        );
      });
      expect(pod.actions).toEqual([{ action: "terminate", by: "pod" }]);
      const status = JSON.parse(jobFile(runId, "status.json")) as {
        state: string;
        exitCode: number;
      };
      expect(status).toMatchObject({ state: "done", exitCode: 0 });
      expect(jobFile(runId, "job.log")).toContain("posefactory: done");
      expect(jobFile(runId, "job.log")).toMatch(
        /watchdog: idle: no job running .* terminate the pod/,
      );
      const pushed = await s3.requests();
      expect(
        pushed.some(
          (r) => r.method === "PUT" && r.path.includes(`/rp/runs/${runId}/manifest.json`),
        ),
      ).toBe(true);
    });
  });

  it("lifetime keep: the second pipeline reuses the pod and skips setup; the watchdog stops it when idle", async () => {
    // Idle long enough for the second pipeline to start on a busy machine (it touches the
    // heartbeat when it connects), short enough to see the watchdog stop the pod.
    writeConfig({ lifetime: "keep", setup: "auto", idleMinutes: "0.5" });
    // A pod whose marker says set up (the real setup installs from the internet).
    mkdirSync(podStateDir(workdir), { recursive: true });
    writeFileSync(join(podStateDir(workdir), "setup.sha256"), setupMarkerContent());
    await withFake({}, async (fake) => {
      const env = envFor(fake);
      const first = await runCli(["--json", "pipeline", "--force"], { cwd: project, env });
      expect(first.code, first.stderr).toBe(0);
      const second = await runCli(["--json", "pipeline", "--force"], { cwd: project, env });
      expect(second.code, second.stderr).toBe(0);
      expect(second.stderr).toContain("reusing our pod");
      expect(second.stderr).toContain("set up: already");
      expect(fake.counts()["POST /pods"]).toBe(1);
      const pod = onlyPod(fake);
      expect(pod.name).toBe("posefactory-keep");
      const record = JSON.parse(second.stdout).record;
      expect(record.pod).toMatchObject({ id: pod.id, lifetime: "keep", end: "kept" });
      await until("the watchdog to stop the idle pod", () => pod.status === "EXITED", 120_000);
      expect(pod.actions).toEqual([{ action: "stop", by: "pod" }]);
      // The next `pod up` starts it again: a fresh container, a fresh host key, pinned anew.
      writeConfig({ lifetime: "keep", setup: "skip" });
      const before = pod.sshd?.hostKeyFingerprint;
      const up = await runCli(["pod", "up"], { cwd: project, env });
      expect(up.code, up.stderr).toBe(0);
      expect(up.stderr).toContain("starting our stopped pod");
      expect(pod.status).toBe("RUNNING");
      expect(pod.sshd?.hostKeyFingerprint).not.toBe(before);
      expect(existsSync(join(podStateDir(workdir), "setup.sha256"))).toBe(false);
      await new RunpodClient({ apiKey: API_KEY, baseUrl: fake.url }).podAction(pod.id, "stop");
      // gc collects the stopped pod.
      const gc = await runCli(["pod", "gc"], { cwd: project, env });
      expect(gc.code, gc.stderr).toBe(0);
      expect(pod.status).toBe("TERMINATED");
    });
  });
});

describe("pod commands and host keys by pod id", { timeout: 300_000 }, () => {
  it("two pods at one IP:port with different keys are both accepted; one pod id with a changed key is refused", async () => {
    writeConfig({ lifetime: "keep" });
    const { findFreePort } = await import("../helpers/sshd.js");
    const port = await findFreePort();
    await withFake({ fixedPort: port }, async (fake) => {
      const env = envFor(fake);
      const a = await runCli(["--json", "pod", "up"], { cwd: project, env });
      expect(a.code, a.stderr).toBe(0);
      const podA = JSON.parse(a.stdout).podId as string;
      const listed = await runCli(["pod", "list"], { cwd: project, env });
      expect(listed.stdout).toContain(podA);
      expect(listed.stdout).toContain("RUNNING");
      const printed = await runCli(["pod", "ssh", "--print"], { cwd: project, env });
      expect(printed.stdout).toContain(`HostKeyAlias=runpod-${podA}`);
      // OpenSSH, with the key posefactory pinned for this pod id, gets in.
      const command = printed.stdout.trim().split(" ");
      expect(
        execFileSync(command[0]!, [...command.slice(1), "echo $RUNPOD_POD_ID"], {
          encoding: "utf8",
        }).trim(),
      ).toBe(podA);
      // The single commands reach the running pod through the API.
      const exec = await runCli(["exec", "--", "echo on $RUNPOD_POD_ID"], {
        cwd: project,
        env,
      });
      expect(exec.code, exec.stderr).toBe(0);
      expect(exec.stdout).toContain(`on ${podA}`);
      const doctor = await runCli(["--json", "doctor"], { cwd: project, env });
      const checks = JSON.parse(doctor.stdout).checks as {
        name: string;
        ok: boolean;
        detail: string;
      }[];
      expect(checks.find((c) => c.name === "runpod api")).toMatchObject({ ok: true });
      expect(checks.find((c) => c.name === "runpod price")?.detail).toContain(
        "NVIDIA A40 at $0.40/h",
      );
      expect((await runCli(["pod", "down", "nosuchpod"], { cwd: project, env })).code).toBe(2);
      expect((await runCli(["pod", "down"], { cwd: project, env })).code).toBe(0);
      expect(fake.pods.get(podA)!.status).toBe("TERMINATED");

      const b = await runCli(["--json", "pod", "up"], { cwd: project, env });
      expect(b.code, b.stderr).toBe(0);
      const podB = JSON.parse(b.stdout).podId as string;
      expect(podB).not.toBe(podA);
      expect(fake.pods.get(podB)!.port).toBe(port);

      await fake.rekey(podB);
      const again = await runCli(["pod", "up"], { cwd: project, env });
      expect(again.code).toBe(1);
      expect(again.stderr).toContain(`HOST KEY CHANGED for runpod-${podB}`);
      expect((await runCli(["pod", "down"], { cwd: project, env })).code).toBe(0);
    });
  });
});
