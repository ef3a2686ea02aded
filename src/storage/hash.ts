/**
 * sha256 of local files, and the two caches that let a sync with nothing changed do no
 * work beyond one listing and some stat() calls:
 *   - hash-cache.json: local file (absolute path, size, mtime) -> sha256, so an unchanged
 *     file is never re-hashed;
 *   - remote-state.json: per store, key -> {size, etag, sha256} of objects this machine
 *     wrote or verified. A listing gives size and ETag but no metadata: when both still
 *     match, the recorded sha256 applies and no per-object HEAD is needed. The ETag is only
 *     compared with an ETag seen before, never with a content hash.
 * Both are caches of facts: losing them costs time, never correctness.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";

export async function hashFile(file: string, signal?: AbortSignal, size?: number): Promise<string> {
  // Small files in one read: a stream would allocate a 1 MiB buffer for each of them.
  if (size !== undefined && size <= 4 * 1024 * 1024)
    return hashBytes(await readFile(file, { signal }));
  const hash = createHash("sha256");
  await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), hash, { signal });
  return hash.digest("hex");
}

export function hashBytes(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A pass-through stream that hashes and counts what flows through it, reporting progress. */
export function createHashingMeter(onProgress?: (bytes: number) => void): {
  stream: Transform;
  bytes: () => number;
  digest: () => string;
} {
  const hash = createHash("sha256");
  let bytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      onProgress?.(bytes);
      done(null, chunk);
    },
  });
  return { stream, bytes: () => bytes, digest: () => hash.digest("hex") };
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

/** Write via a temp file and rename, so a killed process never leaves a truncated cache. */
async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, JSON.stringify(value));
  await rename(tmp, file);
}

interface HashEntry {
  size: number;
  mtimeMs: number;
  sha256: string;
}

export interface RemoteEntry {
  size: number;
  etag: string;
  sha256: string;
}

/** The hash cache and the remote state of one project, kept in `<stateDir>/`. */
export class SyncCache {
  /** Which of the two files has changes to write. */
  private dirty = { hashes: false, remote: false };
  private constructor(
    private readonly stateDir: string,
    private readonly hashes: Record<string, HashEntry>,
    private readonly remote: Record<string, Record<string, RemoteEntry>>,
  ) {}

  static async open(stateDir: string): Promise<SyncCache> {
    const [h, r] = await Promise.all([
      readJson<{ version: number; files: Record<string, HashEntry> }>(
        join(stateDir, "hash-cache.json"),
      ),
      readJson<{ version: number; stores: Record<string, Record<string, RemoteEntry>> }>(
        join(stateDir, "remote-state.json"),
      ),
    ]);
    return new SyncCache(
      stateDir,
      h?.version === 1 ? h.files : {},
      r?.version === 1 ? r.stores : {},
    );
  }

  /** An in-memory cache, for callers without a project folder. */
  static empty(): SyncCache {
    return new SyncCache("", {}, {});
  }

  cachedHash(file: string, size: number, mtimeMs: number): string | undefined {
    const entry = this.hashes[file];
    return entry && entry.size === size && entry.mtimeMs === mtimeMs ? entry.sha256 : undefined;
  }

  rememberHash(file: string, size: number, mtimeMs: number, sha256: string): void {
    this.hashes[file] = { size, mtimeMs, sha256 };
    this.dirty.hashes = true;
  }

  /** Hash `file` unless the cache already knows it at this size and mtime. */
  async hash(file: string, size: number, mtimeMs: number, signal?: AbortSignal): Promise<string> {
    const cached = this.cachedHash(file, size, mtimeMs);
    if (cached) return cached;
    const sha256 = await hashFile(file, signal, size);
    this.rememberHash(file, size, mtimeMs, sha256);
    return sha256;
  }

  /** The sha256 recorded for `key` in `store`, when the listing's size and etag still match. */
  knownRemoteHash(
    store: string,
    key: string,
    size: number,
    etag: string | undefined,
  ): string | undefined {
    if (!etag) return undefined;
    const entry = this.remote[store]?.[key];
    return entry && entry.size === size && entry.etag === etag ? entry.sha256 : undefined;
  }

  rememberRemote(store: string, key: string, entry: RemoteEntry): void {
    let forStore = this.remote[store];
    if (!forStore) {
      forStore = {};
      this.remote[store] = forStore;
    }
    forStore[key] = entry;
    this.dirty.remote = true;
  }

  forgetRemote(store: string, key: string): void {
    const forStore = this.remote[store];
    if (forStore && key in forStore) {
      delete forStore[key];
      this.dirty.remote = true;
    }
  }

  /** Writes the file(s) with changes; the remote state grows with every run, the hashes not. */
  async save(): Promise<void> {
    if (!this.stateDir) return;
    const { hashes, remote } = this.dirty;
    this.dirty = { hashes: false, remote: false };
    if (hashes)
      await writeJsonAtomic(join(this.stateDir, "hash-cache.json"), {
        version: 1,
        files: this.hashes,
      });
    if (remote)
      await writeJsonAtomic(join(this.stateDir, "remote-state.json"), {
        version: 1,
        stores: this.remote,
      });
  }
}
