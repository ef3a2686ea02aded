/**
 * A typed client for RunPod's REST v2 API (https://api.runpod.io/v2, Bearer key). The only
 * code in posefactory that speaks RunPod's API. Transient failures are retried here, bounded:
 * 429 waits `Retry-After`, 5xx and dropped connections back off with jitter. Everything else
 * comes back as a RunpodApiError for the caller to decide (a 400 on create means "try the
 * next candidate"), except 401 (a UserError: the key is wrong) and 422 (our request broke the
 * schema: a bug, reported with the request).
 */
import { ExitCode, InterruptedError, UserError } from "../errors.js";
import type { Logger } from "../log.js";
import { scrubSecrets } from "../secrets.js";
import { sleep } from "../sleep.js";
import {
  type CreatePodRequest,
  type GpuType,
  gpuTypeSchema,
  type LogLine,
  listPodsSchema,
  type Pod,
  type PodAction,
  podSchema,
  problemSchema,
} from "./types.js";

export const DEFAULT_API_URL = "https://api.runpod.io/v2";

/** A problem+json answer the caller has to decide about (400, 402, 403, 404, 409, ...). */
export class RunpodApiError extends Error {
  override readonly name = "RunpodApiError";
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly method: string,
    readonly path: string,
    readonly errors: string[] = [],
  ) {
    super(`RunPod API ${method} ${path}: ${status} ${title}${detail ? `: ${detail}` : ""}`);
  }
}

/** 422: the API says our request does not match its schema. Never retried; a bug in posefactory. */
export class RunpodRequestBugError extends Error {
  override readonly name = "RunpodRequestBugError";
}

export interface RunpodClientOptions {
  apiKey: string;
  /** Default https://api.runpod.io/v2 (RUNPOD_API_URL overrides it). */
  baseUrl?: string;
  logger?: Logger;
  signal?: AbortSignal;
  /** Attempts for 5xx and network errors (default 5). */
  maxAttempts?: number;
  /** Longest total wait on 429s before giving up (default 120 s). */
  maxRateLimitWaitMs?: number;
  /** Base delay of the 5xx backoff (default 500 ms); tests make it small. */
  backoffMs?: number;
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | undefined>;
  /** Statuses that are answers, not errors (e.g. 404 on get = gone). */
  accept?: number[];
}

export class RunpodClient {
  readonly baseUrl: string;
  private readonly apiKey: string;
  private readonly logger?: Logger;
  private readonly signal?: AbortSignal;
  private readonly maxAttempts: number;
  private readonly maxRateLimitWaitMs: number;
  private readonly backoffMs: number;

  constructor(options: RunpodClientOptions) {
    this.apiKey = options.apiKey;
    this.baseUrl = (options.baseUrl || DEFAULT_API_URL).replace(/\/+$/, "");
    this.logger = options.logger;
    this.signal = options.signal;
    this.maxAttempts = options.maxAttempts ?? 5;
    this.maxRateLimitWaitMs = options.maxRateLimitWaitMs ?? 120_000;
    this.backoffMs = options.backoffMs ?? 500;
  }

  /** One API call with the bounded retries; returns the status and the parsed JSON body. */
  async request(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<{ status: number; body: unknown }> {
    const url = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(options.query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    let attempt = 0;
    let rateLimitWaited = 0;
    for (;;) {
      if (this.signal?.aborted) throw new InterruptedError();
      attempt++;
      const started = Date.now();
      let response: Response;
      try {
        response = await fetch(url, {
          method,
          headers: {
            authorization: `Bearer ${this.apiKey}`,
            accept: "application/json",
            ...(options.body !== undefined ? { "content-type": "application/json" } : {}),
          },
          body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
          signal: this.signal,
        });
      } catch (error) {
        if (this.signal?.aborted) throw new InterruptedError();
        if (attempt >= this.maxAttempts) {
          throw new UserError(
            `Cannot reach the RunPod API at ${this.baseUrl} (${(error as Error).message}, ${attempt} attempts): check the network, or RUNPOD_API_URL if you set it.`,
            { cause: error },
          );
        }
        await this.backoff(attempt, `${method} ${path}: ${(error as Error).message}`);
        continue;
      }
      const text = await response.text();
      this.logger?.debug(
        { method, path, status: response.status, ms: Date.now() - started },
        "runpod api",
      );
      const body = parseJson(text);
      const status = response.status;
      if (status < 300 || options.accept?.includes(status)) return { status, body };
      const problem = problemSchema.safeParse(body);
      const title = (problem.success && problem.data.title) || response.statusText || "error";
      const detail = (problem.success && problem.data.detail) || (problem.success ? "" : text);
      const errors = (problem.success && problem.data.errors) || [];
      if (status === 429) {
        const wait = retryAfterMs(response.headers.get("retry-after"));
        if (rateLimitWaited + wait > this.maxRateLimitWaitMs) {
          throw new UserError(
            `RunPod API rate limit: still limited after waiting ${Math.round(rateLimitWaited / 1000)} s (${detail || title}). Try again in a few minutes.`,
          );
        }
        this.logger?.info(`RunPod API rate limit; waiting ${(wait / 1000).toFixed(1)} s`);
        rateLimitWaited += wait;
        await sleep(wait, this.signal);
        attempt--;
        continue;
      }
      if (status >= 500) {
        if (attempt >= this.maxAttempts) {
          throw new UserError(
            `RunPod API ${method} ${path} failed with ${status} ${title} ${attempt} times: RunPod may be having trouble (status.runpod.io); try again later.`,
          );
        }
        await this.backoff(attempt, `${method} ${path}: ${status} ${title}`);
        continue;
      }
      if (status === 401) {
        throw new UserError(
          "RunPod rejected the API key (401): create one at https://www.runpod.io/console/user/settings and export it as RUNPOD_API_KEY (or put RUNPOD_API_KEY=... in the target's credentialsFile).",
          { exitCode: ExitCode.usage },
        );
      }
      if (status === 422) {
        const sent =
          options.body === undefined ? "" : `\nrequest body: ${JSON.stringify(options.body)}`;
        throw new RunpodRequestBugError(
          scrubSecrets(
            `RunPod API refused posefactory's request as malformed (422 ${title}: ${detail}). This is a bug in posefactory: please report it with this message.\nrequest: ${method} ${url.pathname}${url.search}${sent}${errors.length ? `\nerrors:\n  ${errors.join("\n  ")}` : ""}`,
          ),
        );
      }
      throw new RunpodApiError(status, title, detail, method, path, errors);
    }
  }

  private async backoff(attempt: number, what: string): Promise<void> {
    const wait = Math.min(this.backoffMs * 2 ** (attempt - 1), 10_000) * (0.5 + Math.random());
    this.logger?.info(`RunPod API: ${what}; retrying in ${(wait / 1000).toFixed(1)} s`);
    await sleep(wait, this.signal);
  }

  async listPods(): Promise<Pod[]> {
    const { body } = await this.request("GET", "/pods");
    return listPodsSchema.parse(body).pods;
  }

  /** The pod, or undefined when it no longer exists (404). */
  async getPod(id: string): Promise<Pod | undefined> {
    const { status, body } = await this.request("GET", `/pods/${encodeURIComponent(id)}`, {
      accept: [404],
    });
    if (status === 404) return undefined;
    return podSchema.parse(body);
  }

  async createPod(request: CreatePodRequest): Promise<Pod> {
    const { body } = await this.request("POST", "/pods", { body: request });
    return podSchema.parse(body);
  }

  /** start/stop/restart return the pod; terminate returns nothing (204). */
  async podAction(id: string, action: PodAction): Promise<Pod | undefined> {
    const { status, body } = await this.request("POST", `/pods/${encodeURIComponent(id)}/action`, {
      body: { action },
    });
    return status === 204 || body === undefined ? undefined : podSchema.parse(body);
  }

  /** Terminate for good; a pod that is already gone (404) counts as done. */
  async deletePod(id: string): Promise<void> {
    await this.request("DELETE", `/pods/${encodeURIComponent(id)}`, { accept: [404] });
  }

  /** One GPU type with its list price per GPU and (for pods) its availability. */
  async getGpuType(
    id: string,
    options: { count: number; cloud: string },
  ): Promise<GpuType | undefined> {
    const { status, body } = await this.request("GET", `/catalog/gpus/${encodeURIComponent(id)}`, {
      query: {
        include: "AVAILABILITY",
        product: "POD",
        count: options.count,
        cloud: options.cloud,
      },
      accept: [404],
    });
    if (status === 404) return undefined;
    return gpuTypeSchema.parse(body);
  }

  /**
   * The last lines of a pod's log. The endpoint streams Server-Sent Events and may keep the
   * stream open for new lines, so reading stops after `idleMs` without data or `maxMs` in all.
   */
  async readLogs(
    id: string,
    options: {
      source?: "container" | "system";
      tail?: number;
      idleMs?: number;
      maxMs?: number;
    } = {},
  ): Promise<LogLine[]> {
    const url = new URL(`${this.baseUrl}/pods/${encodeURIComponent(id)}/logs`);
    url.searchParams.set("source", options.source ?? "container");
    url.searchParams.set("tail", String(options.tail ?? 200));
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    this.signal?.addEventListener("abort", onAbort, { once: true });
    const lines: LogLine[] = [];
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => controller.abort(), options.idleMs ?? 1500);
    };
    const hardStop = setTimeout(() => controller.abort(), options.maxMs ?? 10_000);
    try {
      arm();
      const response = await fetch(url, {
        headers: { authorization: `Bearer ${this.apiKey}`, accept: "text/event-stream" },
        signal: controller.signal,
      });
      this.logger?.debug(
        {
          method: "GET",
          path: `/pods/${id}/logs`,
          status: response.status,
          ms: Date.now() - started,
        },
        "runpod api",
      );
      if (!response.ok || !response.body) return [];
      const decoder = new TextDecoder();
      let buffer = "";
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        arm();
        buffer += decoder.decode(value, { stream: true });
        let newline = buffer.indexOf("\n");
        while (newline >= 0) {
          const raw = buffer.slice(0, newline).replace(/\r$/, "");
          buffer = buffer.slice(newline + 1);
          newline = buffer.indexOf("\n");
          if (!raw.startsWith("data:")) continue;
          const data = parseJson(raw.slice(5).trim());
          if (data && typeof data === "object" && typeof (data as LogLine).line === "string")
            lines.push(data as LogLine);
        }
      }
    } catch (error) {
      if (this.signal?.aborted) throw new InterruptedError();
      // Our own idle/max timers end a live stream: what arrived so far is the answer.
      if (!controller.signal.aborted) {
        this.logger?.debug({ error: (error as Error).message }, "runpod logs unreadable");
      }
    } finally {
      clearTimeout(timer);
      clearTimeout(hardStop);
      this.signal?.removeEventListener("abort", onAbort);
    }
    return lines;
  }
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Retry-After is seconds (or an HTTP date); missing or odd values wait 5 s. */
export function retryAfterMs(header: string | null): number {
  if (!header) return 5000;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : 5000;
}
