/**
 * The Storage contract: an S3 bucket (R2 in production) or a local folder. Keys are always
 * full keys, including the configured prefix; callers build them with joinKey().
 */
import type { Readable } from "node:stream";

export interface ObjectInfo {
  key: string;
  size: number;
  /** sha256 hex of the content, from x-amz-meta-sha256 (S3) or a sidecar (fs), when known. */
  sha256?: string;
  /** Store-specific change token (S3 ETag, fs mtime): only to notice that an object changed. */
  etag?: string;
  lastModified?: Date;
}

export interface PutOptions {
  sha256: string;
  /** The file's size, when the caller already knows it (saves a stat). */
  size?: number;
  contentType?: string;
  signal?: AbortSignal;
  /** Called with the bytes sent so far, for progress. */
  onProgress?: (bytesSent: number) => void;
}

/** What a put learned about the stored object: its change token, to recognise it in later listings. */
export interface PutResult {
  etag?: string;
}

export interface Storage {
  /** Human-readable location, e.g. `s3://bucket/prefix/` or a folder path. Never secrets. */
  readonly location: string;
  /** The configured prefix (may be ""), always ending with "/" when not empty. */
  readonly prefix: string;
  /** Every object under `prefix`, across all pages. */
  list(prefix: string, options?: { signal?: AbortSignal }): AsyncIterable<ObjectInfo>;
  head(key: string, options?: { signal?: AbortSignal }): Promise<ObjectInfo | undefined>;
  putFile(key: string, file: string, options: PutOptions): Promise<PutResult>;
  putStream(key: string, body: Readable, size: number, options: PutOptions): Promise<PutResult>;
  /** A small object held in memory (job.json, status.json); sha256 metadata is added. */
  putBytes(
    key: string,
    data: Uint8Array | string,
    options?: { contentType?: string; signal?: AbortSignal },
  ): Promise<PutResult>;
  /** A small object's content, or undefined when there is no such key. */
  getBytes(key: string, options?: { signal?: AbortSignal }): Promise<Buffer | undefined>;
  /** Names of the immediate "sub-folders" of `prefix` (which ends with "/"), e.g. run ids. */
  listChildren(prefix: string, options?: { signal?: AbortSignal }): Promise<string[]>;
  /** Download to `file` atomically and verify sha256 when the object carries one. */
  getFile(
    key: string,
    file: string,
    options?: { signal?: AbortSignal; onProgress?: (n: number) => void },
  ): Promise<ObjectInfo>;
  delete(key: string, options?: { signal?: AbortSignal }): Promise<void>;
  /** Cheap reachability/permission check for `doctor`: throws a UserError saying what to fix. */
  check(options?: { signal?: AbortSignal }): Promise<void>;
}

/** Join key parts with single slashes: joinKey("p/", "inputs", "a.fbx") = "p/inputs/a.fbx". */
export function joinKey(...parts: string[]): string {
  return parts
    .filter((p) => p !== "")
    .map((p, i) => (i === 0 ? p.replace(/\/+$/, "") : p.replace(/^\/+|\/+$/g, "")))
    .join("/");
}
