/**
 * Storage on S3-compatible object stores (Cloudflare R2 in production, s3rver in tests).
 * Listings, HEADs, downloads (GET), single-request uploads (PUT) and the doctor check go
 * through s3-request.ts (SigV4 with node:crypto, no SDK); multipart uploads and deletes go
 * through @aws-sdk/client-s3 and @aws-sdk/lib-storage, loaded on the first such request, so
 * only files of 100 MiB or more and deletes ever load the SDK (its load and its per-request
 * middleware were most of those runs' time). A PUT signs its body's sha256 as
 * x-amz-content-sha256: a store that checks it (AWS S3 does) refuses bytes that changed
 * after they were hashed.
 *
 *   const storage = createS3Storage({ bucket, prefix, endpoint, region: "auto",
 *     forcePathStyle: true, credentials, logger });
 *
 * Choices that matter:
 * - The SDK's checksums only WHEN_REQUIRED: its default CRC32 + aws-chunked bodies are
 *   refused by R2 (501) and stored as data by s3rver. Streamed bodies always carry their length.
 * - Files at or above the multipart threshold (default 100 MiB, like rclone's 200 MiB cutoff:
 *   below it one PUT is cheaper for the store and retries stay affordable) go multipart with
 *   equal-size parts (R2 rejects unequal non-final parts); lib-storage cuts the stream into
 *   partSize buffers and is loaded only then.
 * - Every object written carries x-amz-meta-sha256; getFile verifies it.
 * - Single requests are retried here (bounded, jittered, see retry.ts) so a file body can be
 *   re-opened; multipart parts are retried by the SDK inside lib-storage.
 * - Errors become StorageErrors with one message per cause: wrong key id, wrong secret,
 *   no permission, missing bucket, unreachable endpoint.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import type { IncomingHttpHeaders } from "node:http";
import { dirname } from "node:path";
import { type Readable, Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { S3Client } from "@aws-sdk/client-s3";
import type { Logger } from "../log.js";
import { StorageError } from "./errors.js";
import { createHashingMeter, hashBytes } from "./hash.js";
import { networkCodeOf, withRetry } from "./retry.js";
import { S3Requests } from "./s3-request.js";
import { type ListPage, readListPage, XmlError } from "./s3-xml.js";
import type { ObjectInfo, PutOptions, PutResult, Storage } from "./types.js";

export interface S3StorageOptions {
  bucket: string;
  prefix: string;
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Where the credentials came from, named in error messages (never the values). */
  credentialsSource?: string;
  /** Multipart part size in bytes (default 16 MiB; at least 5 MiB). */
  partSize?: number;
  /** Bodies of this size or more go multipart (default 100 MiB; never below partSize). */
  multipartThreshold?: number;
  /** Parts in flight per multipart upload (default 4). */
  queueSize?: number;
  /** Attempts per request, including the first (default 4). */
  attempts?: number;
  /** TCP connect timeout (default 5 s) and socket idle timeout (default 60 s). */
  connectTimeoutMs?: number;
  idleTimeoutMs?: number;
  logger?: Logger;
}

const MIB = 1024 * 1024;
/** Files up to this size are read into memory and sent as one buffer. */
const SMALL_FILE = 8 * MIB;

function stripQuotes(etag: string | undefined): string | undefined {
  return etag?.replace(/^"|"$/g, "");
}

interface SdkError {
  name?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

function headerOf(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return typeof value === "string" ? value : undefined;
}

/** A body shorter (or longer) than its Content-Length is a broken transfer: retried. */
function checkLength(received: number, contentLength: string | undefined): void {
  if (contentLength !== undefined && received !== Number(contentLength)) {
    throw Object.assign(new Error(`short read: ${received} of ${contentLength} bytes`), {
      code: "ECONNRESET",
    });
  }
}

/**
 * Write a GET body to `part`, hashing and counting it. Bodies up to SMALL_FILE are collected
 * and written at once (no write stream per file: a run's images are small and many); larger
 * ones are streamed through the hashing meter.
 */
async function receive(
  body: Readable,
  part: string,
  contentLength: string | undefined,
  options: { signal?: AbortSignal; onProgress?: (n: number) => void },
): Promise<{ sha256: string; bytes: number }> {
  if (contentLength !== undefined && Number(contentLength) <= SMALL_FILE) {
    const hash = createHash("sha256");
    const chunks: Buffer[] = [];
    let bytes = 0;
    // An abort or a timeout destroys the body: the loop throws.
    for await (const chunk of body as AsyncIterable<Buffer>) {
      hash.update(chunk);
      chunks.push(chunk);
      bytes += chunk.length;
      options.onProgress?.(bytes);
    }
    await writeFile(part, Buffer.concat(chunks, bytes), { signal: options.signal });
    return { sha256: hash.digest("hex"), bytes };
  }
  const meter = createHashingMeter(options.onProgress);
  const out = createWriteStream(part);
  try {
    await pipeline(body, meter.stream, out, { signal: options.signal });
  } catch (error) {
    // The .part is removed after this: let its open and close finish first.
    if (!out.closed) await new Promise<void>((resolve) => out.once("close", () => resolve()));
    throw error;
  }
  return { sha256: meter.digest(), bytes: meter.bytes() };
}

/** Counts bytes flowing through, for progress. */
function countingStream(onBytes: (total: number) => void): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      total += chunk.length;
      onBytes(total);
      done(null, chunk);
    },
  });
}

type Sdk = typeof import("@aws-sdk/client-s3");

/**
 * A CommonJS package's exports through import(): Node and the esbuild bundle both put
 * module.exports on `default` (the bundle only there); an ES build has them at the top.
 */
function exportsOf<T>(mod: T): T {
  return (mod as { default?: T }).default ?? mod;
}

export class S3Storage implements Storage {
  readonly location: string;
  readonly prefix: string;
  private readonly requests: S3Requests;
  private sdkClients?: Promise<{ sdk: Sdk; client: S3Client; multipartClient: S3Client }>;
  private readonly partSize: number;
  private readonly multipartThreshold: number;
  private readonly attempts: number;
  private readonly endpointLabel: string;

  constructor(private readonly options: S3StorageOptions) {
    this.prefix = options.prefix;
    this.endpointLabel = options.endpoint ?? `AWS S3 (${options.region})`;
    this.location = `s3://${options.bucket}/${options.prefix}${options.endpoint ? ` at ${options.endpoint}` : ""}`;
    this.partSize = Math.max(5 * MIB, options.partSize ?? 16 * MIB);
    this.multipartThreshold = Math.max(this.partSize, options.multipartThreshold ?? 100 * MIB);
    this.attempts = options.attempts ?? 4;
    this.requests = new S3Requests({
      bucket: options.bucket,
      endpoint: options.endpoint,
      region: options.region,
      forcePathStyle: options.forcePathStyle,
      credentials: options.credentials,
      connectTimeoutMs: options.connectTimeoutMs,
      idleTimeoutMs: options.idleTimeoutMs,
    });
  }

  /** The SDK and its two clients, loaded on the first request that transfers or deletes. */
  private sdk() {
    this.sdkClients ??= import("@aws-sdk/client-s3").then((mod) => {
      const sdk = exportsOf(mod);
      const { options } = this;
      const base = {
        region: options.region,
        endpoint: options.endpoint,
        forcePathStyle: options.forcePathStyle,
        credentials: options.credentials,
        requestChecksumCalculation: "WHEN_REQUIRED" as const,
        responseChecksumValidation: "WHEN_REQUIRED" as const,
        requestHandler: {
          connectionTimeout: options.connectTimeoutMs ?? 5000,
          requestTimeout: options.idleTimeoutMs ?? 60_000,
          // Parallel transfers each need their own socket.
          httpAgent: { keepAlive: true, maxSockets: 128 },
          httpsAgent: { keepAlive: true, maxSockets: 128 },
        },
      };
      // The pinned SDK (3.1175.0) already prints a NodeVersionSupportWarning on Node 20 to
      // stderr, which carries only our logs; posefactory supports Node 20 on purpose.
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
      // Our own retry loop wraps single requests; lib-storage needs the SDK's for its parts.
      return {
        sdk,
        client: new sdk.S3Client({ ...base, maxAttempts: 1 }),
        multipartClient: new sdk.S3Client({ ...base, maxAttempts: this.attempts }),
      };
    });
    return this.sdkClients;
  }

  private retry<T>(
    what: string,
    fn: () => Promise<T>,
    signal?: AbortSignal,
    attempts = this.attempts,
  ) {
    return withRetry(fn, { what, signal, attempts, logger: this.options.logger }).catch((error) => {
      throw this.translate(error, what);
    });
  }

  /** One clear message per cause; anything unrecognised keeps the store's own words. */
  translate(error: unknown, what: string): unknown {
    if (error instanceof StorageError) return error;
    if (error && typeof error === "object" && (error as { name?: string }).name === "AbortError") {
      return error;
    }
    const e = (error ?? {}) as SdkError;
    const code = e.name ?? e.Code ?? "";
    const status = e.$metadata?.httpStatusCode;
    const { bucket } = this.options;
    const where = this.endpointLabel;
    const source = this.options.credentialsSource
      ? ` (from ${this.options.credentialsSource})`
      : "";
    if (code === "InvalidAccessKeyId") {
      return new StorageError(
        "credentials",
        `Storage at ${where} does not know the access key id${source} (InvalidAccessKeyId): set POSEFACTORY_S3_ACCESS_KEY_ID to a key created for this account, or fix storage.credentialsFile.`,
        { cause: error },
      );
    }
    if (code === "SignatureDoesNotMatch") {
      return new StorageError(
        "credentials",
        `Storage at ${where} rejected the secret access key${source} (SignatureDoesNotMatch): set POSEFACTORY_S3_SECRET_ACCESS_KEY to the secret that belongs to the access key id.`,
        { cause: error },
      );
    }
    if (code === "NoSuchBucket") {
      return new StorageError(
        "bucket",
        `Bucket \`${bucket}\` not found at ${where}: check storage.bucket in posefactory.yaml, or create the bucket.`,
        { cause: error },
      );
    }
    if (code === "AccessDenied" || code === "Forbidden" || status === 403) {
      return new StorageError(
        "permission",
        `Access denied by ${where} for ${what} in bucket \`${bucket}\`: the credentials${source} need read and write access to this bucket (an R2 token with "Object Read & Write" on it).`,
        { cause: error },
      );
    }
    const net = networkCodeOf(error);
    if (
      net === "ECONNREFUSED" ||
      net === "ENOTFOUND" ||
      net === "EAI_AGAIN" ||
      net === "EHOSTUNREACH" ||
      net === "ENETUNREACH" ||
      net === "ETIMEDOUT" ||
      code === "TimeoutError"
    ) {
      const why = net ?? "timed out";
      return new StorageError(
        "unreachable",
        `Cannot reach storage endpoint ${where} (${why}): check storage.endpoint in posefactory.yaml and your network connection.`,
        { cause: error },
      );
    }
    if (code && status) {
      return new StorageError(
        "transfer",
        `${what} failed at ${where}: ${code} (HTTP ${status}) ${e.message ?? ""}`.trim(),
        {
          cause: error,
        },
      );
    }
    return error;
  }

  /** One ListObjectsV2 request, read by s3-xml.ts; a malformed answer is a transfer error. */
  private async listPage(
    query: { prefix: string; delimiter?: string; token?: string; maxKeys?: number },
    signal?: AbortSignal,
  ): Promise<ListPage> {
    const { body } = await this.requests.send({
      method: "GET",
      query: {
        "list-type": "2",
        prefix: query.prefix,
        delimiter: query.delimiter,
        "continuation-token": query.token,
        "max-keys": query.maxKeys === undefined ? undefined : String(query.maxKeys),
      },
      signal,
    });
    try {
      return readListPage(body);
    } catch (error) {
      if (!(error instanceof XmlError)) throw error;
      throw new StorageError(
        "transfer",
        `LIST ${query.prefix} at ${this.endpointLabel} got an answer that is not a ListObjectsV2 result (${error.message}): check storage.endpoint points at an S3-compatible store.`,
        { cause: error },
      );
    }
  }

  /** Every page of a listing (ListObjectsV2 gives at most 1,000 keys a page). */
  private async *pages(
    prefix: string,
    delimiter: string | undefined,
    signal?: AbortSignal,
    maxKeys?: number,
  ) {
    let token: string | undefined;
    do {
      const page = await this.retry(
        `LIST ${prefix}`,
        () => this.listPage({ prefix, delimiter, token, maxKeys }, signal),
        signal,
      );
      yield page;
      token = page.isTruncated ? page.nextContinuationToken : undefined;
    } while (token);
  }

  /**
   * Every object under `prefix`. `pageSize` (max-keys) is for tests of the paging; stores
   * answer at most 1,000 keys a page anyway.
   */
  async *list(
    prefix: string,
    options: { signal?: AbortSignal; pageSize?: number } = {},
  ): AsyncIterable<ObjectInfo> {
    for await (const page of this.pages(prefix, undefined, options.signal, options.pageSize)) {
      for (const item of page.contents) {
        yield {
          key: item.key,
          size: item.size,
          etag: stripQuotes(item.etag),
          lastModified: item.lastModified,
        };
      }
    }
  }

  async listChildren(
    prefix: string,
    options: { signal?: AbortSignal; pageSize?: number } = {},
  ): Promise<string[]> {
    const names: string[] = [];
    for await (const page of this.pages(prefix, "/", options.signal, options.pageSize)) {
      for (const p of page.commonPrefixes) {
        if (p) names.push(p.slice(prefix.length).replace(/\/$/, ""));
      }
    }
    return names;
  }

  async head(key: string, options: { signal?: AbortSignal } = {}): Promise<ObjectInfo | undefined> {
    try {
      const { headers } = await withRetry(
        () => this.requests.send({ method: "HEAD", key, signal: options.signal }),
        {
          what: `HEAD ${key}`,
          signal: options.signal,
          attempts: this.attempts,
          logger: this.options.logger,
        },
      );
      const header = (name: string) => {
        const value = headers[name];
        return typeof value === "string" ? value : undefined;
      };
      const lastModified = header("last-modified");
      return {
        key,
        size: Number(header("content-length") ?? 0),
        sha256: header("x-amz-meta-sha256"),
        etag: stripQuotes(header("etag")),
        lastModified: lastModified === undefined ? undefined : new Date(lastModified),
      };
    } catch (error) {
      const e = error as SdkError;
      if (e.name === "NotFound" || e.name === "NoSuchKey" || e.$metadata?.httpStatusCode === 404) {
        return undefined;
      }
      throw this.translate(error, `HEAD ${key}`);
    }
  }

  private metadata(sha256: string): Record<string, string> {
    return { sha256 };
  }

  async putFile(key: string, file: string, options: PutOptions): Promise<PutResult> {
    const size = options.size ?? (await stat(file)).size;
    if (size >= this.multipartThreshold) {
      // The SDK retries each part; a failure after that restarts the whole file once more.
      return this.retry(
        `PUT ${key}`,
        () =>
          this.uploadMultipart(key, createReadStream(file, { highWaterMark: MIB }), size, options),
        options.signal,
        2,
      );
    }
    if (size <= SMALL_FILE) {
      // Small files go as one buffer: no stream machinery, no 1 MiB read buffer per file.
      const body = await readFile(file);
      if (hashBytes(body) !== options.sha256) {
        throw new StorageError(
          "transfer",
          `${file} changed after it was hashed: run the upload again.`,
        );
      }
      const result = await this.retry(
        `PUT ${key}`,
        () => this.putBody(key, body, options.sha256, options),
        options.signal,
      );
      options.onProgress?.(body.byteLength);
      return result;
    }
    return this.retry(
      `PUT ${key}`,
      () => this.putSingle(key, createReadStream(file, { highWaterMark: MIB }), size, options),
      options.signal,
    );
  }

  async putStream(
    key: string,
    body: Readable,
    size: number,
    options: PutOptions,
  ): Promise<PutResult> {
    // A stream can be read once: no retry of the whole request here.
    try {
      if (size >= this.multipartThreshold)
        return await this.uploadMultipart(key, body, size, options);
      return await this.putSingle(key, body, size, options);
    } catch (error) {
      throw this.translate(error, `PUT ${key}`);
    }
  }

  async putBytes(
    key: string,
    data: Uint8Array | string,
    options: { contentType?: string; signal?: AbortSignal } = {},
  ): Promise<PutResult> {
    const body = typeof data === "string" ? Buffer.from(data) : data;
    return this.retry(
      `PUT ${key}`,
      () => this.putBody(key, body, hashBytes(body), options),
      options.signal,
    );
  }

  private async putBody(
    key: string,
    body: Uint8Array,
    sha256: string,
    options: { contentType?: string; signal?: AbortSignal },
  ): Promise<PutResult> {
    return this.put(key, body, body.byteLength, sha256, options);
  }

  /** One signed PUT without the SDK; its payload hash is the content's sha256. */
  private async put(
    key: string,
    body: Uint8Array | Readable,
    size: number,
    sha256: string,
    options: { contentType?: string; signal?: AbortSignal },
  ): Promise<PutResult> {
    const { headers } = await this.requests.send({
      method: "PUT",
      key,
      body,
      payloadHash: sha256,
      headers: {
        "content-length": String(size),
        ...(options.contentType ? { "content-type": options.contentType } : {}),
        "x-amz-meta-sha256": sha256,
      },
      signal: options.signal,
    });
    const etag = headers.etag;
    return { etag: stripQuotes(typeof etag === "string" ? etag : undefined) };
  }

  async getBytes(key: string, options: { signal?: AbortSignal } = {}): Promise<Buffer | undefined> {
    try {
      return await withRetry(
        async () => {
          const { headers, body } = await this.requests.stream({
            method: "GET",
            key,
            signal: options.signal,
          });
          const chunks: Buffer[] = [];
          const meter = createHashingMeter();
          await pipeline(
            body,
            meter.stream,
            new Writable({
              write(chunk: Buffer, _enc, done) {
                chunks.push(chunk);
                done();
              },
            }),
            { signal: options.signal },
          );
          checkLength(meter.bytes(), headerOf(headers, "content-length"));
          return Buffer.concat(chunks);
        },
        {
          what: `GET ${key}`,
          signal: options.signal,
          attempts: this.attempts,
          logger: this.options.logger,
        },
      );
    } catch (error) {
      const e = error as SdkError;
      if (e.name === "NoSuchKey" || e.name === "NotFound") return undefined;
      throw this.translate(error, `GET ${key}`);
    }
  }

  private async putSingle(
    key: string,
    body: Readable,
    size: number,
    options: PutOptions,
  ): Promise<PutResult> {
    const source = options.onProgress ? body.pipe(countingStream(options.onProgress)) : body;
    body.once("error", (error) => source.destroy(error));
    return this.put(key, source, size, options.sha256, options);
  }

  private async uploadMultipart(
    key: string,
    body: Readable,
    size: number,
    options: PutOptions,
  ): Promise<PutResult> {
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const [{ Upload }, { multipartClient }] = await Promise.all([
      import("@aws-sdk/lib-storage").then(exportsOf),
      this.sdk(),
    ]);
    const upload = new Upload({
      client: multipartClient,
      partSize: this.partSize,
      queueSize: this.options.queueSize ?? 4,
      leavePartsOnError: false,
      abortController: controller,
      params: {
        Bucket: this.options.bucket,
        Key: key,
        Body: body,
        ContentLength: size,
        ContentType: options.contentType,
        Metadata: this.metadata(options.sha256),
      },
    });
    if (options.onProgress) {
      const onProgress = options.onProgress;
      upload.on("httpUploadProgress", (p) => {
        if (p.loaded !== undefined) onProgress(p.loaded);
      });
    }
    try {
      const out = await upload.done();
      return { etag: stripQuotes((out as { ETag?: string }).ETag) };
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
    }
  }

  async getFile(
    key: string,
    file: string,
    options: { signal?: AbortSignal; onProgress?: (n: number) => void } = {},
  ): Promise<ObjectInfo> {
    const part = `${file}.part`;
    await mkdir(dirname(file), { recursive: true });
    try {
      return await this.retry(
        `GET ${key}`,
        async () => {
          const { headers, body } = await this.requests.stream({
            method: "GET",
            key,
            signal: options.signal,
          });
          const length = headerOf(headers, "content-length");
          const { sha256, bytes: received } = await receive(body, part, length, options);
          const expected = headerOf(headers, "x-amz-meta-sha256");
          checkLength(received, headerOf(headers, "content-length"));
          if (expected && expected !== sha256) {
            throw new StorageError(
              "integrity",
              `Downloaded ${key} but its sha256 ${sha256} differs from the ${expected} stored with it: the object is corrupt in storage or changed during the download; run the command again.`,
            );
          }
          await rename(part, file);
          const lastModified = headerOf(headers, "last-modified");
          return {
            key,
            size: received,
            sha256,
            etag: stripQuotes(headerOf(headers, "etag")),
            lastModified: lastModified === undefined ? undefined : new Date(lastModified),
          };
        },
        options.signal,
      );
    } catch (error) {
      await rm(part, { force: true });
      throw error;
    }
  }

  async delete(key: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.retry(
      `DELETE ${key}`,
      async () => {
        const { sdk, client } = await this.sdk();
        return client.send(new sdk.DeleteObjectCommand({ Bucket: this.options.bucket, Key: key }), {
          abortSignal: options.signal,
        });
      },
      options.signal,
    );
  }

  /** A one-key listing: proves the endpoint answers, the bucket exists and the keys work. */
  async check(options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.retry(
      "LIST (check)",
      () => this.listPage({ prefix: this.prefix, maxKeys: 1 }, options.signal),
      options.signal,
      2,
    );
  }

  /** Close idle sockets so the process can exit promptly. */
  destroy(): void {
    this.requests.destroy();
    void this.sdkClients?.then(({ client, multipartClient }) => {
      client.destroy();
      multipartClient.destroy();
    });
  }
}

export function createS3Storage(options: S3StorageOptions): S3Storage {
  return new S3Storage(options);
}
