/**
 * Signed S3 requests without the AWS SDK: AWS Signature Version 4 with node:crypto, sent with
 * node:http(s) over keep-alive sockets. Used for what a no-change sync needs (ListObjectsV2,
 * HEAD), for downloads (GET) and single-request uploads (PUT, the payload signed by its
 * sha256), so only multipart uploads and deletes load the SDK.
 *
 *   const s3 = new S3Requests({ bucket, endpoint, region, forcePathStyle, credentials });
 *   const { body } = await s3.send({ method: "GET", query: { "list-type": "2", prefix } });
 *   const { headers, body: bytes } = await s3.stream({ method: "GET", key }); // a Readable
 *   s3.destroy();
 *
 * A store's error answer (status >= 300) is thrown shaped like the SDK's exceptions (`name` =
 * the S3 error Code, or NotFound for a bodiless 404, else Unknown; `$metadata.httpStatusCode`),
 * so S3Storage.translate() and the retry policy treat both paths alike. Timeouts are thrown
 * as TimeoutError, as the SDK's node handler does; network errors keep their errno code.
 * URLs follow the SDK's rules: path style with forcePathStyle, an IP address endpoint or a
 * bucket name that cannot be a host name; else the bucket is the first label of the host.
 */
import { createHash, createHmac } from "node:crypto";
import type { Agent, IncomingHttpHeaders, IncomingMessage } from "node:http";
import type { Readable } from "node:stream";
import { readErrorBody } from "./s3-xml.js";

export interface S3RequestsOptions {
  bucket: string;
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  connectTimeoutMs?: number;
  idleTimeoutMs?: number;
}

export interface S3Request {
  method: "GET" | "HEAD" | "PUT";
  /** The object key; absent for bucket-level requests (a listing). */
  key?: string;
  query?: Record<string, string | undefined>;
  signal?: AbortSignal;
  /** A PUT's body: bytes, or a stream of exactly `headers["content-length"]` bytes. */
  body?: Uint8Array | Readable;
  /** Its sha256 hex, signed as x-amz-content-sha256 (AWS S3 refuses other bytes). */
  payloadHash?: string;
  /** More headers to send and sign, lower-case names. */
  headers?: Record<string, string>;
}

export interface S3Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface S3StreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body as it arrives, binary. */
  body: Readable;
}

const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** RFC 3986 percent-encoding, as SigV4 wants it (the SDK's escapeUri): only A-Z a-z 0-9 - . _ ~ stay. */
export function escapeUri(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** The query string, keys sorted: the same bytes are sent and signed. */
export function canonicalQuery(query: Record<string, string | undefined>): string {
  return Object.entries(query)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([k, v]) => [escapeUri(k), escapeUri(v)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

export interface SignInput {
  method: string;
  /** Host header value (with the port when it is not the scheme's default). */
  host: string;
  /** The request path, already percent-encoded per segment; S3 signs it as sent. */
  path: string;
  /** Canonical query string (canonicalQuery()). */
  query: string;
  /** Other headers to sign, lower-case names. */
  headers?: Record<string, string>;
  payloadHash?: string;
  region: string;
  service?: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  date: Date;
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac("sha256", key).update(data, "utf8").digest();
}

/** amzDate "20130524T000000Z" of a Date. */
export function amzDate(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

/** The headers that make a request signed: x-amz-date, x-amz-content-sha256, Authorization. */
export function signRequest(input: SignInput): Record<string, string> {
  const when = amzDate(input.date);
  const day = when.slice(0, 8);
  const service = input.service ?? "s3";
  const payloadHash = input.payloadHash ?? EMPTY_SHA256;
  const headers: Record<string, string> = {
    ...input.headers,
    host: input.host,
    "x-amz-content-sha256": payloadHash,
    "x-amz-date": when,
  };
  if (input.credentials.sessionToken)
    headers["x-amz-security-token"] = input.credentials.sessionToken;
  const names = Object.keys(headers)
    .map((name) => name.toLowerCase())
    .sort();
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const canonicalHeaders = names
    .map((name) => `${name}:${String(lower[name]).trim().replace(/\s+/g, " ")}\n`)
    .join("");
  const signedHeaders = names.join(";");
  const canonicalRequest = [
    input.method,
    input.path,
    input.query,
    canonicalHeaders,
    signedHeaders,
    payloadHash,
  ].join("\n");
  const scope = `${day}/${input.region}/${service}/aws4_request`;
  const stringToSign = [
    "AWS4-HMAC-SHA256",
    when,
    scope,
    createHash("sha256").update(canonicalRequest, "utf8").digest("hex"),
  ].join("\n");
  const key = hmac(
    hmac(hmac(hmac(`AWS4${input.credentials.secretAccessKey}`, day), input.region), service),
    "aws4_request",
  );
  const signature = createHmac("sha256", key).update(stringToSign, "utf8").digest("hex");
  const { host: _host, ...sent } = headers;
  return {
    ...sent,
    authorization: `AWS4-HMAC-SHA256 Credential=${input.credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
  };
}

/** S3's rule for a bucket that can be a host label (no dots: TLS certificates cover one label). */
function isVirtualHostable(bucket: string): boolean {
  return (
    /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(bucket) &&
    !/^\d+\.\d+\.\d+\.\d+$/.test(bucket) &&
    !bucket.includes("--")
  );
}

function isIpHost(hostname: string): boolean {
  return /^\d+\.\d+\.\d+\.\d+$/.test(hostname) || hostname.startsWith("[");
}

/** A store's error answer, shaped like the SDK's service exceptions. */
export class S3ResponseError extends Error {
  readonly Code: string;
  readonly $fault: "client" | "server";
  readonly $metadata: { httpStatusCode: number; requestId?: string };
  constructor(status: number, code: string, message: string, requestId?: string) {
    super(message);
    this.name = code;
    this.Code = code;
    this.$fault = status >= 500 ? "server" : "client";
    this.$metadata = { httpStatusCode: status, requestId };
  }
}

function timeoutError(message: string): Error {
  return Object.assign(new Error(message), { name: "TimeoutError" });
}

function abortError(): Error {
  return Object.assign(new Error("Request aborted"), { name: "AbortError" });
}

export class S3Requests {
  private agent?: Promise<{ agent: Agent; request: typeof import("node:http").request }>;
  private readonly base: URL;
  private readonly pathStyle: boolean;

  constructor(private readonly options: S3RequestsOptions) {
    this.base = new URL(options.endpoint ?? `https://s3.${options.region}.amazonaws.com`);
    this.pathStyle =
      options.forcePathStyle || !isVirtualHostable(options.bucket) || isIpHost(this.base.hostname);
  }

  /** The URL parts of a request: host and percent-encoded path. */
  target(key?: string): { host: string; path: string } {
    const basePath = this.base.pathname.replace(/\/+$/, "");
    const keyPath = key === undefined ? "" : `/${key.split("/").map(escapeUri).join("/")}`;
    if (this.pathStyle) {
      return {
        host: this.base.host,
        path: `${basePath}/${escapeUri(this.options.bucket)}${keyPath}`,
      };
    }
    return {
      host: `${this.options.bucket}.${this.base.host}`,
      path: `${basePath}${keyPath || "/"}`,
    };
  }

  private transport() {
    // node:https (and TLS) only when the endpoint is https.
    this.agent ??= (
      this.base.protocol === "https:" ? import("node:https") : import("node:http")
    ).then((m) => ({
      // Parallel HEADs each need their own socket.
      agent: new m.Agent({ keepAlive: true, maxSockets: 128 }),
      request: m.request as typeof import("node:http").request,
    }));
    return this.agent;
  }

  /** A request whose answer is read whole; a body is text (XML). */
  async send(req: S3Request): Promise<S3Response> {
    const res = await this.open(req);
    const body = await readBody(res, req.signal);
    const response = {
      status: res.statusCode ?? 0,
      headers: res.headers,
      body: body.toString("utf8"),
    };
    if (response.status >= 300) throw errorOf(response);
    return response;
  }

  /**
   * A request whose body is handed over as it arrives (a download): bytes, never decoded. An
   * error answer is read whole and thrown as send() throws it. The caller must consume or
   * destroy the body; an abort or a timeout destroys it with an AbortError or TimeoutError.
   */
  async stream(req: S3Request): Promise<S3StreamResponse> {
    const res = await this.open(req);
    const status = res.statusCode ?? 0;
    if (status >= 300) {
      const body = await readBody(res, req.signal);
      throw errorOf({ status, headers: res.headers, body: body.toString("utf8") });
    }
    return { status, headers: res.headers, body: res };
  }

  /** Sign and send a request; resolves with the response once its headers arrive. */
  private async open(req: S3Request): Promise<IncomingMessage> {
    const { agent, request } = await this.transport();
    if (req.signal?.aborted) throw abortError();
    const { host, path } = this.target(req.key);
    const query = canonicalQuery(req.query ?? {});
    const headers = signRequest({
      method: req.method,
      host,
      path,
      query,
      headers: req.headers,
      payloadHash: req.payloadHash,
      region: this.options.region,
      credentials: this.options.credentials,
      date: new Date(),
    });
    const connectTimeout = this.options.connectTimeoutMs ?? 5000;
    const idleTimeout = this.options.idleTimeoutMs ?? 60_000;
    return new Promise<IncomingMessage>((resolve, reject) => {
      let response: IncomingMessage | undefined;
      let settled = false;
      // Before the answer: reject. After it: the body's reader sees the error.
      const fail = (error: Error) => {
        const reason = req.signal?.aborted ? abortError() : error;
        if (response) {
          if (!response.destroyed) response.destroy(reason);
          return;
        }
        if (settled) return;
        settled = true;
        clearTimeout(connectTimer);
        req.signal?.removeEventListener("abort", onAbort);
        outgoing.destroy();
        reject(reason);
      };
      const onAbort = () => fail(abortError());
      let connectTimer: NodeJS.Timeout | undefined;
      const outgoing = request(
        {
          protocol: this.base.protocol,
          // An IPv6 endpoint is always path style; connect without its URL brackets.
          hostname: this.pathStyle
            ? this.base.hostname.replace(/^\[(.*)\]$/, "$1")
            : `${this.options.bucket}.${this.base.hostname}`,
          port: this.base.port || undefined,
          method: req.method,
          path: query ? `${path}?${query}` : path,
          headers: { ...headers, host },
          agent,
        },
        (res: IncomingMessage) => {
          if (settled) {
            res.destroy();
            return;
          }
          settled = true;
          response = res;
          // Errors after the reader stopped listening must not crash the process.
          res.on("error", () => {});
          res.once("close", () => req.signal?.removeEventListener("abort", onAbort));
          resolve(res);
        },
      );
      req.signal?.addEventListener("abort", onAbort, { once: true });
      // `on`, not `once`: fail() settles once and ignores what comes after.
      outgoing.on("error", fail);
      outgoing.once("socket", (socket) => {
        if (!socket.connecting) return;
        connectTimer = setTimeout(
          () =>
            fail(
              timeoutError(
                `Socket timed out without establishing a connection within ${connectTimeout} ms`,
              ),
            ),
          connectTimeout,
        );
        socket.once("connect", () => clearTimeout(connectTimer));
      });
      outgoing.setTimeout(idleTimeout, () =>
        fail(timeoutError(`Connection timed out after ${idleTimeout} ms`)),
      );
      const body = req.body;
      if (body === undefined || body instanceof Uint8Array) outgoing.end(body);
      else {
        body.once("error", fail);
        body.pipe(outgoing);
      }
    });
  }

  /** Close idle sockets so the process can exit promptly. */
  destroy(): void {
    void this.agent?.then(({ agent }) => agent.destroy());
  }
}

/** A whole body; an error while reading (an abort: AbortError) rejects. */
function readBody(res: IncomingMessage, signal?: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const fail = (error: Error) => reject(signal?.aborted ? abortError() : error);
    res.on("data", (chunk: Buffer) => chunks.push(chunk));
    res.on("error", fail);
    res.once("aborted", () =>
      fail(Object.assign(new Error("response aborted"), { code: "ECONNRESET" })),
    );
    res.once("end", () => resolve(Buffer.concat(chunks)));
  });
}

/** The SDK's reading of an error answer: Code from the body, NotFound for a bodiless 404. */
function errorOf(response: S3Response): S3ResponseError {
  const requestId = response.headers["x-amz-request-id"];
  const parsed = readErrorBody(response.body);
  const code = parsed?.code ?? (response.status === 404 ? "NotFound" : "Unknown");
  return new S3ResponseError(
    response.status,
    code,
    parsed?.message ?? "UnknownError",
    parsed?.requestId ?? (typeof requestId === "string" ? requestId : undefined),
  );
}
