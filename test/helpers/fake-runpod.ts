/**
 * A fake RunPod REST v2 API on 127.0.0.1 (RunPod's API cannot run here), speaking the
 * documented wire format (runpod/docs api-reference-v2/openapi.json) for every call
 * posefactory makes: POST/GET /pods, GET/DELETE /pods/{id}, POST /pods/{id}/action,
 * GET /pods/{id}/logs (SSE), GET /catalog/gpus[/{id}]; errors as application/problem+json.
 *
 * Its pods are real: each one is an OpenSSH sshd on loopback (helpers/sshd.ts) that accepts
 * the PUBLIC_KEY of the create request, with the pod's RUNPOD_POD_ID, pod-scoped
 * RUNPOD_API_KEY and RUNPOD_API_URL in every session's environment (sshd's SetEnv), so a
 * process in the "pod" (the watchdog) can call this API like on RunPod. A pod goes
 * PROVISIONING -> STARTING -> RUNNING on timers, gets `ssh.direct` a while after RUNNING, and
 * its sshd answers a while after that. Stopping or terminating kills the sshd and every
 * process that carries the pod's marker in its environment, as a container would end.
 *
 * Faults are scripted: `noCapacity` GPU types answer 400, `fail()` queues any status (402,
 * 429 with Retry-After, 5xx) for matching requests. `counts()` tells requests per endpoint.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findFreePort, type SshdServer, startSshd } from "./sshd.js";

export interface FakeGpu {
  id: string;
  price: { secure: number; community: number };
  dataCenters?: string[];
}

export interface FakeRunpodOptions {
  /** The account's API key (Bearer). */
  apiKey: string;
  gpus?: FakeGpu[];
  /** ms in PROVISIONING, then in STARTING. */
  provisioningMs?: number;
  startingMs?: number;
  /** ms after RUNNING until `ssh.direct` is assigned. */
  sshAssignMs?: number;
  /** ms after `ssh.direct` until the sshd answers. */
  sshdDelayMs?: number;
  /** GPU ids that answer create with 400 (no capacity). */
  noCapacity?: string[];
  /** Every pod's sshd listens on this port (RunPod reuses IP:port across pods). */
  fixedPort?: number;
  /** Pods never start their sshd (ssh.direct is assigned, nothing answers). */
  neverSsh?: boolean;
}

export interface FakeFault {
  method: string;
  /** Path below /v2, e.g. "/pods" or a RegExp. */
  path: string | RegExp;
  status: number;
  times?: number;
  retryAfter?: number;
  detail?: string;
}

export interface FakePod {
  id: string;
  name: string;
  status: "PROVISIONING" | "STARTING" | "RUNNING" | "EXITED" | "ERROR" | "TERMINATED";
  image: string;
  env: Record<string, string>;
  gpu: { id: string; count: number };
  cloud: string;
  dataCenterId: string;
  disk: number;
  ports: string[];
  mounts: Record<string, unknown>;
  createdAt: string;
  startedAt: string | null;
  /** Pod-scoped API key (what RUNPOD_API_KEY is inside the pod). */
  podKey: string;
  /** The container's HOME (empty: no rc files). */
  home: string;
  port: number;
  sshAssigned: boolean;
  sshd?: SshdServer;
  log: { ts: string; source: string; line: string }[];
  timers: NodeJS.Timeout[];
  /** Bumped by every boot: a container's identity. */
  generation: number;
  /** Actions requested, in order, with who asked: "user" or "pod". */
  actions: { action: string; by: "user" | "pod" }[];
  price: number;
}

export interface FakeRunpod {
  url: string;
  pods: Map<string, FakePod>;
  counts(): Record<string, number>;
  resetCounts(): void;
  fail(fault: FakeFault): void;
  clearFaults(): void;
  /** Every request seen: method, path, the auth kind, and the raw body. */
  requests: { method: string; path: string; by: "user" | "pod" | "none"; body: string }[];
  /** Give a pod's sshd a new host key (same pod id, same address). */
  rekey(podId: string): Promise<void>;
  stop(): Promise<void>;
}

const DEFAULT_GPUS: FakeGpu[] = [
  {
    id: "NVIDIA A40",
    price: { secure: 0.4, community: 0.35 },
    dataCenters: ["EU-SE-1", "US-KS-2"],
  },
  {
    id: "NVIDIA RTX A6000",
    price: { secure: 0.49, community: 0.33 },
    dataCenters: ["EU-SE-1", "US-TX-3"],
  },
];

const CREATE_KEYS = new Set([
  "name",
  "image",
  "gpu",
  "cpu",
  "cloud",
  "disk",
  "ports",
  "env",
  "args",
  "mounts",
  "dataCenterIds",
  "startSsh",
  "startJupyter",
  "templateId",
  "registry",
  "globalNetworking",
]);

export async function startFakeRunpod(options: FakeRunpodOptions): Promise<FakeRunpod> {
  const gpus = options.gpus ?? DEFAULT_GPUS;
  const pods = new Map<string, FakePod>();
  const faults: FakeFault[] = [];
  let counts: Record<string, number> = {};
  const requests: FakeRunpod["requests"] = [];
  const instance = randomBytes(4).toString("hex");
  let url = "";

  const marker = (pod: FakePod) => `PF_FAKE_POD=${instance}:${pod.id}`;

  const log = (pod: FakePod, line: string) =>
    pod.log.push({ ts: new Date().toISOString(), source: "container", line });

  const startSsh = async (pod: FakePod) => {
    if (options.neverSsh || pod.status !== "RUNNING") return;
    pod.sshd = await startSshd({
      port: pod.port,
      authorizedKeys: `${pod.env.PUBLIC_KEY ?? ""}\n`,
      setEnv: {
        // A container's own home: no rc files of this machine's root run in the "pod".
        HOME: pod.home,
        RUNPOD_POD_ID: pod.id,
        RUNPOD_API_KEY: pod.podKey,
        RUNPOD_API_URL: url,
        PF_FAKE_POD: `${instance}:${pod.id}`,
      },
      // What RunPod's start.sh prints after generating fresh host keys, before sshd starts.
      onHostKey: (fingerprint) => {
        log(pod, "Setting up SSH...");
        log(pod, `256 ${fingerprint} root@${pod.id} (ED25519)`);
        log(pod, "Starting SSH server...");
      },
    });
    if (pod.status !== "RUNNING") {
      await pod.sshd.stop();
      pod.sshd = undefined;
      return;
    }
  };

  const boot = (pod: FakePod) => {
    pod.generation += 1;
    pod.status = "PROVISIONING";
    const t1 = options.provisioningMs ?? 300;
    const t2 = t1 + (options.startingMs ?? 300);
    const t3 = t2 + (options.sshAssignMs ?? 300);
    const t4 = t3 + (options.sshdDelayMs ?? 300);
    pod.timers.push(
      setTimeout(() => {
        if (pod.status === "PROVISIONING") pod.status = "STARTING";
      }, t1),
      setTimeout(() => {
        if (pod.status !== "STARTING") return;
        pod.status = "RUNNING";
        pod.startedAt = new Date().toISOString();
        log(pod, "Container started");
      }, t2),
      setTimeout(() => {
        if (pod.status === "RUNNING") pod.sshAssigned = true;
      }, t3),
      setTimeout(() => {
        void startSsh(pod).catch((error: Error) => log(pod, `sshd failed: ${error.message}`));
      }, t4),
    );
  };

  /** End the "container": its sshd and every process carrying its marker. */
  const halt = async (pod: FakePod) => {
    for (const t of pod.timers) clearTimeout(t);
    pod.timers = [];
    pod.sshAssigned = false;
    const sshd = pod.sshd;
    pod.sshd = undefined;
    await sshd?.stop();
    killMarked(marker(pod));
  };

  /**
   * The container ends. Asked from inside the pod (the watchdog), the answer goes out first:
   * on RunPod the caller dies with the container a moment after the API accepted the call.
   */
  const endContainer = async (
    pod: FakePod,
    by: string,
    res: ServerResponse,
    status: number,
    body?: unknown,
  ) => {
    const answer = () =>
      body === undefined ? res.writeHead(status).end() : json(res, status, body);
    if (by === "pod") {
      answer();
      // Unless the pod was booted again meanwhile: that is a new container.
      const generation = pod.generation;
      setTimeout(() => {
        if (pod.generation === generation) void halt(pod);
      }, 200);
      return;
    }
    await halt(pod);
    answer();
  };

  const view = (pod: FakePod) => {
    const alive = pod.status !== "EXITED" && pod.status !== "TERMINATED";
    const direct =
      pod.status === "RUNNING" && pod.sshAssigned
        ? {
            host: "127.0.0.1",
            port: pod.port,
            username: "root",
            command: `ssh root@127.0.0.1 -p ${pod.port}`,
          }
        : null;
    const actions =
      pod.status === "RUNNING"
        ? ["stop", "restart", "terminate"]
        : pod.status === "EXITED" || pod.status === "ERROR"
          ? ["start", "terminate"]
          : pod.status === "TERMINATED"
            ? []
            : ["stop", "terminate"];
    return {
      id: pod.id,
      name: pod.name,
      image: pod.image,
      args: "",
      disk: pod.disk,
      ports: pod.ports,
      env: pod.env,
      registry: null,
      status: pod.status,
      actions,
      mounts: pod.mounts,
      gpu: pod.gpu,
      cloud: pod.cloud,
      dataCenterId: pod.dataCenterId,
      cudaVersion: "12.8",
      ssh: {
        proxy: { host: "ssh.runpod.io", port: 22, username: `${pod.id}-64411eb2`, command: "" },
        direct,
      },
      template: null,
      cost: alive ? pod.price : 0,
      locked: false,
      globalNetworking: { enabled: false },
      runtime: pod.status === "RUNNING" ? { uptime: 0, ports: [] } : null,
      createdAt: pod.createdAt,
      startedAt: pod.startedAt,
    };
  };

  const problem = (
    res: ServerResponse,
    status: number,
    title: string,
    detail: string,
    extra: { errors?: string[]; headers?: Record<string, string> } = {},
  ) => {
    res.writeHead(status, { "content-type": "application/problem+json", ...extra.headers });
    res.end(
      JSON.stringify({ title, status, detail, ...(extra.errors ? { errors: extra.errors } : {}) }),
    );
  };
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };

  const endpointOf = (method: string, path: string): string =>
    `${method} ${path
      .replace(/^\/pods\/[^/]+\/action$/, "/pods/{id}/action")
      .replace(/^\/pods\/[^/]+\/logs$/, "/pods/{id}/logs")
      .replace(/^\/pods\/[^/]+$/, "/pods/{id}")
      .replace(/^\/catalog\/gpus\/.+$/, "/catalog/gpus/{id}")}`;

  const handle = async (req: IncomingMessage, res: ServerResponse, body: string) => {
    const parsed = new URL(req.url ?? "/", "http://x");
    const method = req.method ?? "GET";
    if (!parsed.pathname.startsWith("/v2/")) return problem(res, 404, "Not Found", "no such route");
    const path = decodeURIComponent(parsed.pathname.slice(3));
    const endpoint = endpointOf(method, path);
    counts[endpoint] = (counts[endpoint] ?? 0) + 1;
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    const podOfKey = [...pods.values()].find((p) => p.podKey === token);
    const by = token === options.apiKey ? "user" : podOfKey ? "pod" : "none";
    requests.push({ method, path, by, body });
    if (by === "none") return problem(res, 401, "Unauthorized", "invalid or missing API key");

    const fault = faults.find(
      (f) =>
        f.method === method &&
        (typeof f.path === "string" ? f.path === path : f.path.test(path)) &&
        (f.times ?? 1) > 0,
    );
    if (fault) {
      fault.times = (fault.times ?? 1) - 1;
      const titles: Record<number, string> = {
        400: "Bad Request",
        402: "Payment Required",
        403: "Forbidden",
        429: "Too Many Requests",
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
      };
      return problem(
        res,
        fault.status,
        titles[fault.status] ?? "Error",
        fault.detail ?? "scripted fault",
        {
          headers:
            fault.retryAfter !== undefined ? { "retry-after": String(fault.retryAfter) } : {},
        },
      );
    }

    const podMatch = /^\/pods\/([^/]+)(\/action|\/logs)?$/.exec(path);
    const pod = podMatch ? pods.get(podMatch[1]!) : undefined;
    // A pod-scoped key may only read and act on its own pod.
    if (by === "pod" && (!pod || pod !== podOfKey))
      return problem(res, 403, "Forbidden", "this key is scoped to another pod");

    if (method === "GET" && path === "/catalog/gpus") {
      return json(res, 200, { gpus: gpus.map((g) => gpuView(g, parsed.searchParams)) });
    }
    const gpuMatch = /^\/catalog\/gpus\/(.+)$/.exec(path);
    if (method === "GET" && gpuMatch) {
      const gpu = gpus.find((g) => g.id === gpuMatch[1]);
      if (!gpu) return problem(res, 404, "Not Found", `GPU type ${gpuMatch[1]} not found`);
      return json(res, 200, gpuView(gpu, parsed.searchParams));
    }
    if (method === "GET" && path === "/pods") {
      return json(res, 200, {
        pods: [...pods.values()].filter((p) => p.status !== "TERMINATED").map(view),
      });
    }
    if (method === "POST" && path === "/pods") return create(res, body);
    if (podMatch && !pod) return problem(res, 404, "Not Found", "pod not found");
    if (!pod) return problem(res, 404, "Not Found", "no such route");
    if (method === "GET" && !podMatch![2]) return json(res, 200, view(pod));
    if (method === "DELETE" && !podMatch![2]) {
      pod.actions.push({ action: "terminate", by: by as "user" | "pod" });
      pod.status = "TERMINATED";
      await endContainer(pod, by, res, 204);
      return;
    }
    if (method === "GET" && podMatch![2] === "/logs") {
      const tail = Number(parsed.searchParams.get("tail") ?? 100);
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      for (const line of pod.log.slice(-tail))
        res.write(`id: ${line.ts}\ndata: ${JSON.stringify(line)}\n\n`);
      res.end();
      return;
    }
    if (method === "POST" && podMatch![2] === "/action") {
      let action: unknown;
      try {
        action = (JSON.parse(body) as { action?: unknown }).action;
      } catch {
        return problem(res, 422, "Unprocessable Entity", "body is not JSON");
      }
      const allowed = view(pod).actions;
      if (typeof action !== "string" || !["start", "stop", "restart", "terminate"].includes(action))
        return problem(res, 422, "Unprocessable Entity", "invalid action", {
          errors: [`$.action: must be one of start, stop, restart, terminate`],
        });
      if (!allowed.includes(action))
        return problem(res, 409, "Conflict", `cannot ${action} a pod that is ${pod.status}`);
      pod.actions.push({ action, by: by as "user" | "pod" });
      if (action === "terminate") {
        pod.status = "TERMINATED";
        await endContainer(pod, by, res, 204);
        return;
      }
      if (action === "stop") {
        pod.status = "EXITED";
        await endContainer(pod, by, res, 200, view(pod));
        return;
      }
      // start or restart: the container boots again (start.sh makes fresh host keys).
      await halt(pod);
      boot(pod);
      return json(res, 200, view(pod));
    }
    return problem(res, 404, "Not Found", "no such route");
  };

  const create = async (res: ServerResponse, body: string) => {
    let request: Record<string, unknown>;
    try {
      request = JSON.parse(body) as Record<string, unknown>;
    } catch {
      return problem(res, 422, "Unprocessable Entity", "body is not JSON");
    }
    const errors: string[] = [];
    for (const key of Object.keys(request))
      if (!CREATE_KEYS.has(key)) errors.push(`$: additional properties '${key}' not allowed`);
    if (typeof request.name !== "string" || request.name === "") errors.push("$.name: required");
    const gpu = request.gpu as { id?: unknown; count?: unknown } | undefined;
    if (!gpu || typeof gpu.id !== "string") errors.push("$.gpu.id: required");
    if (request.env !== undefined && (typeof request.env !== "object" || request.env === null))
      errors.push("$.env: must be an object");
    if (errors.length > 0)
      return problem(res, 422, "Unprocessable Entity", "request does not match the schema", {
        errors,
      });
    const type = gpus.find((g) => g.id === gpu!.id);
    if (!type || options.noCapacity?.includes(type.id)) {
      return problem(
        res,
        400,
        "Bad Request",
        "There are no longer any instances available with the requested specifications. Please refresh and try again.",
      );
    }
    const wanted = (request.dataCenterIds as string[] | undefined) ?? [];
    const offered = type.dataCenters ?? ["EU-SE-1"];
    const dataCenterId = wanted.length > 0 ? wanted.find((d) => offered.includes(d)) : offered[0];
    if (!dataCenterId)
      return problem(
        res,
        400,
        "Bad Request",
        "no instances available in the requested data centers",
      );
    const cloud = (request.cloud as string | undefined) ?? "SECURE";
    const count = typeof gpu!.count === "number" ? gpu!.count : 1;
    const id = randomBytes(7).toString("hex").slice(0, 14);
    const pod: FakePod = {
      id,
      name: request.name as string,
      status: "PROVISIONING",
      image: (request.image as string | undefined) ?? "runpod/base:1.0.2-cuda1281-ubuntu2204",
      env: { ...((request.env as Record<string, string> | undefined) ?? {}) },
      gpu: { id: type.id, count },
      cloud,
      dataCenterId,
      disk: (request.disk as number | undefined) ?? 50,
      ports: (request.ports as string[] | undefined) ?? [],
      mounts: (request.mounts as Record<string, unknown> | undefined) ?? {},
      createdAt: new Date().toISOString(),
      startedAt: null,
      podKey: `rpa_pod_${randomBytes(16).toString("hex")}`,
      home: mkdtempSync(join(tmpdir(), "pf-fake-pod-home-")),
      port: options.fixedPort ?? (await findFreePort()),
      sshAssigned: false,
      log: [],
      timers: [],
      generation: 0,
      actions: [],
      price: (cloud === "COMMUNITY" ? type.price.community : type.price.secure) * count,
    };
    pods.set(id, pod);
    boot(pod);
    return json(res, 201, view(pod));
  };

  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => {
      body += d.toString();
    });
    req.on("end", () => {
      handle(req, res, body).catch((error: Error) => {
        if (!res.headersSent) problem(res, 500, "Internal Server Error", error.message);
        else res.end();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2`;

  return {
    url,
    pods,
    requests,
    counts: () => ({ ...counts }),
    resetCounts() {
      counts = {};
      requests.length = 0;
    },
    fail(fault) {
      faults.push({ times: 1, ...fault });
    },
    clearFaults() {
      faults.length = 0;
    },
    async rekey(podId) {
      const pod = pods.get(podId);
      if (!pod?.sshd) throw new Error(`pod ${podId} has no sshd`);
      await pod.sshd.restart({ newHostKey: true });
    },
    async stop() {
      for (const pod of pods.values()) {
        await halt(pod);
        rmSync(pod.home, { recursive: true, force: true });
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
    },
  };
}

function gpuView(gpu: FakeGpu, query: URLSearchParams) {
  const withAvailability = query.get("include") === "AVAILABILITY";
  return {
    id: gpu.id,
    name: gpu.id.replace(/^NVIDIA /, ""),
    pool: null,
    manufacturer: "NVIDIA",
    memory: 48,
    secure: true,
    community: true,
    price: gpu.price,
    maxCount: { secure: 8, community: 4 },
    ...(withAvailability
      ? {
          availability: "HIGH",
          dataCenters: (gpu.dataCenters ?? ["EU-SE-1"]).map((id) => ({
            id,
            name: id,
            availability: "HIGH",
          })),
        }
      : {}),
  };
}

/** SIGKILL every process whose environment carries this marker (the pod's "container"). */
function killMarked(marker: string): void {
  for (let round = 0; round < 3; round++) {
    let found = false;
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
      let environ: string;
      try {
        environ = readFileSync(`/proc/${entry}/environ`, "latin1");
      } catch {
        continue;
      }
      if (!environ.split("\0").includes(marker)) continue;
      found = true;
      try {
        process.kill(Number(entry), "SIGKILL");
      } catch {
        // Gone already.
      }
    }
    if (!found) return;
  }
}
