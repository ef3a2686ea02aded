/**
 * Storage in a local folder (the local target's default, `.posefactory/storage`).
 *
 *   const storage = createFsStorage({ root: "/abs/folder", prefix: "" });
 *
 * An object `a/b.png` is the file `<root>/a/b.png`, so Blender and the user can read the
 * folder directly. Its sha256 lives in a sidecar `<root>/.posefactory-meta/a/b.png.json`
 * ({sha256, size, mtimeMs}); list() returns it when the sidecar still matches the file's
 * size and mtime, so a sync never re-hashes what it stored. Files written by something
 * else (no sidecar) are listed without a sha256. Writes go to a temp file then rename.
 */
import { createReadStream, createWriteStream } from "node:fs";
import {
  access,
  constants,
  copyFile,
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  rmdir,
  stat,
  writeFile,
} from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { StorageError } from "./errors.js";
import { createHashingMeter, hashBytes } from "./hash.js";
import { localPathForKey } from "./keys.js";
import type { ObjectInfo, PutOptions, PutResult, Storage } from "./types.js";

export const META_DIR = ".posefactory-meta";
const TMP_MARK = ".pf-tmp-";

interface Sidecar {
  sha256: string;
  size: number;
  mtimeMs: number;
}

function etagOf(size: number, mtimeMs: number): string {
  return `${Math.round(mtimeMs * 1000)}-${size}`;
}

function tempName(file: string): string {
  return `${file}${TMP_MARK}${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

export class FsStorage implements Storage {
  readonly location: string;
  readonly prefix: string;

  constructor(
    private readonly root: string,
    prefix: string,
  ) {
    this.location = root;
    this.prefix = prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`;
  }

  private pathOf(key: string): string {
    if (key === META_DIR || key.startsWith(`${META_DIR}/`) || key.includes(TMP_MARK)) {
      throw new StorageError(
        "unsafe-key",
        `Refusing key ${JSON.stringify(key)}: reserved by posefactory's folder storage.`,
      );
    }
    return localPathForKey(this.root, key, key);
  }

  private sidecarOf(key: string): string {
    return join(this.root, META_DIR, ...`${key}.json`.split("/"));
  }

  private async readSidecar(
    key: string,
    size: number,
    mtimeMs: number,
  ): Promise<string | undefined> {
    try {
      const meta = JSON.parse(await readFile(this.sidecarOf(key), "utf8")) as Sidecar;
      return meta.size === size && meta.mtimeMs === mtimeMs ? meta.sha256 : undefined;
    } catch {
      return undefined;
    }
  }

  private async commit(tmp: string, key: string, sha256: string): Promise<PutResult> {
    const file = this.pathOf(key);
    await rename(tmp, file);
    const st = await stat(file);
    const sidecar = this.sidecarOf(key);
    await mkdir(dirname(sidecar), { recursive: true });
    const meta: Sidecar = { sha256, size: st.size, mtimeMs: st.mtimeMs };
    await writeFile(sidecar, JSON.stringify(meta));
    return { etag: etagOf(st.size, st.mtimeMs) };
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    // Walk only the folder the prefix names, then filter by the partial last segment.
    const slash = prefix.lastIndexOf("/");
    const dirKey = slash >= 0 ? prefix.slice(0, slash) : "";
    const start = dirKey ? join(this.root, ...dirKey.split("/")) : this.root;
    const found: { key: string; path: string }[] = [];
    const walk = async (dir: string, keyBase: string): Promise<void> => {
      let entries: import("node:fs").Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
        throw error;
      }
      for (const entry of entries) {
        const key = keyBase ? `${keyBase}/${entry.name}` : entry.name;
        if (key === META_DIR || entry.name.includes(TMP_MARK)) continue;
        if (entry.isDirectory()) {
          if (key.startsWith(prefix) || prefix.startsWith(`${key}/`))
            await walk(join(dir, entry.name), key);
        } else if (entry.isFile() && key.startsWith(prefix)) {
          found.push({ key, path: join(dir, entry.name) });
        }
      }
    };
    await walk(start, dirKey);
    // S3 lists in byte order of the UTF-8 key; do the same.
    found.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
    for (const { key, path } of found) {
      const st = await stat(path).catch(() => undefined);
      if (!st) continue;
      yield {
        key,
        size: st.size,
        sha256: await this.readSidecar(key, st.size, st.mtimeMs),
        etag: etagOf(st.size, st.mtimeMs),
        lastModified: st.mtime,
      };
    }
  }

  async listChildren(prefix: string): Promise<string[]> {
    const dir = prefix ? join(this.root, ...prefix.replace(/\/$/, "").split("/")) : this.root;
    try {
      const entries = await readdir(dir, { withFileTypes: true });
      return entries
        .filter((e) => e.isDirectory() && e.name !== META_DIR)
        .map((e) => e.name)
        .sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const st = await stat(this.pathOf(key)).catch(() => undefined);
    if (!st?.isFile()) return undefined;
    return {
      key,
      size: st.size,
      sha256: await this.readSidecar(key, st.size, st.mtimeMs),
      etag: etagOf(st.size, st.mtimeMs),
      lastModified: st.mtime,
    };
  }

  async putFile(key: string, file: string, options: PutOptions): Promise<PutResult> {
    const target = this.pathOf(key);
    await mkdir(dirname(target), { recursive: true });
    const tmp = tempName(target);
    try {
      await copyFile(file, tmp);
      const result = await this.commit(tmp, key, options.sha256);
      options.onProgress?.((await stat(target)).size);
      return result;
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
  }

  async putStream(
    key: string,
    body: Readable,
    size: number,
    options: PutOptions,
  ): Promise<PutResult> {
    const target = this.pathOf(key);
    await mkdir(dirname(target), { recursive: true });
    const tmp = tempName(target);
    const meter = createHashingMeter(options.onProgress);
    try {
      await pipeline(body, meter.stream, createWriteStream(tmp), { signal: options.signal });
      const written = meter.bytes();
      if (written !== size) {
        throw new StorageError(
          "transfer",
          `PUT ${key}: the stream gave ${written} bytes, ${size} were announced`,
        );
      }
      const sha256 = meter.digest();
      if (sha256 !== options.sha256) {
        throw new StorageError(
          "integrity",
          `PUT ${key}: content sha256 ${sha256} differs from the announced ${options.sha256}`,
        );
      }
      return await this.commit(tmp, key, sha256);
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
  }

  async putBytes(
    key: string,
    data: Uint8Array | string,
    _options?: { contentType?: string },
  ): Promise<PutResult> {
    const target = this.pathOf(key);
    await mkdir(dirname(target), { recursive: true });
    const tmp = tempName(target);
    await writeFile(tmp, data);
    return this.commit(tmp, key, hashBytes(data));
  }

  async getBytes(key: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.pathOf(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }

  async getFile(
    key: string,
    file: string,
    options: { signal?: AbortSignal; onProgress?: (n: number) => void } = {},
  ): Promise<ObjectInfo> {
    const source = this.pathOf(key);
    const st = await stat(source).catch(() => undefined);
    if (!st?.isFile()) {
      throw new StorageError("transfer", `GET ${key}: no such object in ${this.root}`);
    }
    const expected = await this.readSidecar(key, st.size, st.mtimeMs);
    const part = `${file}.part`;
    await mkdir(dirname(file), { recursive: true });
    const meter = createHashingMeter(options.onProgress);
    try {
      await pipeline(
        createReadStream(source, { highWaterMark: 1 << 20 }),
        meter.stream,
        createWriteStream(part),
        {
          signal: options.signal,
        },
      );
      const sha256 = meter.digest();
      const received = meter.bytes();
      if (expected && expected !== sha256) {
        throw new StorageError(
          "integrity",
          `Copied ${key} but its sha256 ${sha256} differs from the ${expected} stored with it: the file in ${this.root} changed or is corrupt.`,
        );
      }
      await rename(part, file);
      return {
        key,
        size: received,
        sha256,
        etag: etagOf(st.size, st.mtimeMs),
        lastModified: st.mtime,
      };
    } catch (error) {
      await rm(part, { force: true });
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    const file = this.pathOf(key);
    await rm(file, { force: true });
    await rm(this.sidecarOf(key), { force: true });
    // Prune folders left empty, up to the root, so listChildren() does not show ghosts.
    for (const start of [dirname(file), dirname(this.sidecarOf(key))]) {
      let dir = start;
      while (dir.startsWith(this.root) && dir !== this.root && dir !== join(this.root, META_DIR)) {
        try {
          await rmdir(dir);
        } catch {
          break;
        }
        dir = dirname(dir);
      }
    }
  }

  async check(_options?: { signal?: AbortSignal }): Promise<void> {
    try {
      await mkdir(this.root, { recursive: true });
      await access(this.root, constants.W_OK);
    } catch (error) {
      throw new StorageError(
        "permission",
        `Storage folder ${this.root} cannot be created or written: fix its permissions or set storage.path to a writable folder.`,
        { cause: error },
      );
    }
  }
}

export function createFsStorage(options: { root: string; prefix?: string }): FsStorage {
  return new FsStorage(options.root, options.prefix ?? "");
}
