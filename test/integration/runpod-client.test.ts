/** The REST v2 client against the fake RunPod API (real sshd pods on loopback). */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../../src/errors.js";
import { createLogger } from "../../src/log.js";
import {
  RunpodApiError,
  RunpodClient,
  RunpodRequestBugError,
  retryAfterMs,
} from "../../src/runpod/client.js";
import type { Pod } from "../../src/runpod/types.js";
import { type FakeRunpod, startFakeRunpod } from "../helpers/fake-runpod.js";

const API_KEY = "rpa_TESTKEY_0123456789abcdef";
let fake: FakeRunpod;
let client: RunpodClient;
let dir: string;
let publicKey: string;
let identityFile: string;

beforeAll(async () => {
  fake = await startFakeRunpod({ apiKey: API_KEY });
  client = new RunpodClient({ apiKey: API_KEY, baseUrl: fake.url, backoffMs: 10 });
  dir = mkdtempSync(join(tmpdir(), "pf-rp-client-"));
  identityFile = join(dir, "id");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", identityFile]);
  publicKey = readFileSync(`${identityFile}.pub`, "utf8").trim();
});

afterAll(async () => {
  await fake?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function waitFor(pod: Pod, done: (p: Pod) => boolean): Promise<Pod> {
  for (let i = 0; i < 200; i++) {
    const now = await client.getPod(pod.id);
    if (now && done(now)) return now;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("pod never got there");
}

const request = (name: string, gpu = "NVIDIA A40") => ({
  name,
  image: "runpod/base:1.0.2-cuda1281-ubuntu2204",
  gpu: { id: gpu, count: 1 },
  cloud: "SECURE" as const,
  disk: 20,
  ports: ["22/tcp"],
  env: { PUBLIC_KEY: publicKey, POSEFACTORY_OWNER: "test" },
});

describe("RunPod REST v2 client", { timeout: 60_000 }, () => {
  it("creates a pod that boots to RUNNING with ssh.direct, a working sshd and host key fingerprints in its log", async () => {
    const created = await client.createPod(request("posefactory-client-a"));
    expect(created.status).toBe("PROVISIONING");
    expect(created.ssh?.direct ?? null).toBeNull();
    const running = await waitFor(created, (p) => p.status === "RUNNING" && !!p.ssh?.direct);
    expect(running.cost).toBeCloseTo(0.4);
    expect(running.env?.POSEFACTORY_OWNER).toBe("test");
    const direct = running.ssh!.direct!;
    let out = "";
    for (let i = 0; i < 100 && !out; i++) {
      try {
        out = execFileSync(
          "ssh",
          [
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-i",
            identityFile,
            "-p",
            String(direct.port),
            `${direct.username}@${direct.host}`,
            "echo $RUNPOD_POD_ID $RUNPOD_API_URL",
          ],
          { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
        ).trim();
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    expect(out).toBe(`${created.id} ${fake.url}`);
    const logs = await client.readLogs(created.id);
    const fingerprint = /SHA256:[A-Za-z0-9+/]{43}/.exec(logs.map((l) => l.line).join("\n"))?.[0];
    for (let i = 0; i < 100 && !fake.pods.get(created.id)!.sshd; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(fingerprint).toBe(fake.pods.get(created.id)!.sshd!.hostKeyFingerprint);
    expect((await client.listPods()).map((p) => p.id)).toContain(created.id);

    const stopped = await client.podAction(created.id, "stop");
    expect(stopped?.status).toBe("EXITED");
    expect(stopped?.cost).toBe(0);
    await client.podAction(created.id, "terminate");
    expect((await client.getPod(created.id))?.status).toBe("TERMINATED");
    expect((await client.listPods()).map((p) => p.id)).not.toContain(created.id);
  });

  it("waits Retry-After on 429 and retries 5xx, then succeeds", async () => {
    fake.fail({ method: "GET", path: "/pods", status: 429, retryAfter: 1 });
    fake.fail({ method: "GET", path: "/pods", status: 503, times: 2 });
    fake.resetCounts();
    let logged = "";
    const stream = new Writable({
      write(chunk, _enc, done) {
        logged += chunk.toString();
        done();
      },
    });
    const logging = new RunpodClient({
      apiKey: API_KEY,
      baseUrl: fake.url,
      backoffMs: 10,
      logger: createLogger({ json: true, stream }),
    });
    await logging.listPods();
    expect(fake.counts()["GET /pods"]).toBe(4);
    expect(logged).toContain("rate limit; waiting 1.0 s");
    expect(logged.match(/503 Service Unavailable; retrying/g)).toHaveLength(2);
    expect(logged).not.toContain(API_KEY);
  });

  it("gives up on 5xx after bounded attempts with a UserError", async () => {
    fake.fail({ method: "GET", path: "/pods", status: 500, times: 10 });
    await expect(client.listPods()).rejects.toBeInstanceOf(UserError);
    fake.clearFaults();
  });

  it("maps 400, 402, 403 to RunpodApiError, 401 to a UserError, 422 to a bug report with the request", async () => {
    const noCapacity = await client
      .createPod(request("posefactory-x", "NVIDIA H100 80GB HBM3"))
      .catch((e: unknown) => e);
    expect(noCapacity).toBeInstanceOf(RunpodApiError);
    expect((noCapacity as RunpodApiError).status).toBe(400);
    fake.fail({ method: "POST", path: "/pods", status: 402, detail: "insufficient balance" });
    const balance = await client.createPod(request("posefactory-y")).catch((e: unknown) => e);
    expect((balance as RunpodApiError).status).toBe(402);
    expect((balance as RunpodApiError).detail).toBe("insufficient balance");

    const wrong = new RunpodClient({ apiKey: "rpa_wrong_key_xyz", baseUrl: fake.url });
    await expect(wrong.listPods()).rejects.toThrow(/rejected the API key/);

    const bug = await client
      .createPod({ ...request("posefactory-z"), bogus: 1 } as never)
      .catch((e: unknown) => e);
    expect(bug).toBeInstanceOf(RunpodRequestBugError);
    expect((bug as Error).message).toMatch(/bug in posefactory/);
    expect((bug as Error).message).toContain("additional properties 'bogus'");
    expect((bug as Error).message).toContain('"name":"posefactory-z"');
  });

  it("reads catalog prices; 404 for an unknown pod is undefined", async () => {
    const gpu = await client.getGpuType("NVIDIA RTX A6000", { count: 1, cloud: "SECURE" });
    expect(gpu?.price.secure).toBeCloseTo(0.49);
    expect(gpu?.dataCenters?.map((d) => d.id)).toContain("EU-SE-1");
    expect(await client.getPod("nosuchpod")).toBeUndefined();
  });

  it("reads Retry-After as seconds or a date", () => {
    expect(retryAfterMs("12")).toBe(12_000);
    expect(retryAfterMs(null)).toBe(5000);
    expect(retryAfterMs(new Date(Date.now() + 3000).toUTCString())).toBeGreaterThan(1000);
  });
});
