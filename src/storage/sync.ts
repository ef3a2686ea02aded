/**
 * Plan, then transfer: one paginated listing of the destination prefix plus local stat()s
 * decide what differs (by size and sha256, never by ETag); then a bounded pool moves it.
 *
 *   const summary = await uploadDir(storage, "/abs/characters", "p/inputs/characters/", {
 *     stateDir: "<project>/.posefactory", concurrency: 8, delete: false });
 *   const summary = await downloadPrefix(storage, "p/runs/<id>/", "/abs/data/runs/<id>", {...});
 *
 * Or in two steps, for --dry-run: planUpload() / executeUpload(), planDownload() /
 * executeDownload(). With nothing changed a sync costs one LIST per 1,000 keys: local
 * hashes come from hash-cache.json and remote hashes from remote-state.json (hash.ts);
 * only objects this machine has never seen need a HEAD to read their x-amz-meta-sha256.
 * Downloads refuse keys that would land outside the destination before writing anything.
 */
import { readdir, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import type { Logger } from "../log.js";
import { StorageError } from "./errors.js";
import { SyncCache } from "./hash.js";
import { explainUnsafeKey, localPathForKey, prepareInside } from "./keys.js";
import { type ProgressReporter, silentProgress } from "./progress.js";
import type { ObjectInfo, Storage } from "./types.js";

export interface SyncOptions {
  /** Transfers in flight (default 8, config sync.concurrency). */
  concurrency?: number;
  /** Folder for hash-cache.json and remote-state.json (the project's `.posefactory/`). */
  stateDir?: string;
  /** An already opened cache (shared by several syncs in one command). */
  cache?: SyncCache;
  signal?: AbortSignal;
  logger?: Logger;
  progress?: ProgressReporter;
}

export interface UploadOptions extends SyncOptions {
  /** Remove remote keys under the prefix that have no local file (mirror). */
  delete?: boolean;
  /** Skip local files by relative path ("a/b.fbx"); default skips OS litter and __pycache__. */
  exclude?: (relPath: string) => boolean;
}

export type Reason = "new" | "changed" | "unverified";

export interface UploadAction {
  key: string;
  file: string;
  size: number;
  mtimeMs: number;
  /** Known when the plan had to hash the file to decide; else hashed just before upload. */
  sha256?: string;
  reason: Reason;
}

export interface UploadPlan {
  keyPrefix: string;
  localDir: string;
  uploads: UploadAction[];
  deletes: { key: string; size: number }[];
  skipped: number;
  /** HEAD requests the plan needed (objects with a size match but no known sha256). */
  heads: number;
}

export interface DownloadAction {
  key: string;
  file: string;
  size: number;
  etag?: string;
  reason: Reason;
}

export interface DownloadPlan {
  keyPrefix: string;
  localDir: string;
  downloads: DownloadAction[];
  skipped: number;
  heads: number;
}

export interface UploadSummary {
  uploaded: number;
  skipped: number;
  deleted: number;
  bytes: number;
  seconds: number;
}

export interface DownloadSummary {
  downloaded: number;
  skipped: number;
  bytes: number;
  seconds: number;
  /** sha256 of each downloaded file (absolute path), hashed as its bytes were written. */
  hashes?: Map<string, string>;
}

const DEFAULT_EXCLUDED_NAMES = new Set([
  ".DS_Store",
  "Thumbs.db",
  "desktop.ini",
  "__pycache__",
  ".git",
]);

export function defaultExclude(relPath: string): boolean {
  return relPath.split("/").some((s) => DEFAULT_EXCLUDED_NAMES.has(s)) || relPath.endsWith(".pyc");
}

function normalizePrefix(prefix: string): string {
  return prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`;
}

/** Run `fn` over `items` with at most `limit` in flight; stop starting new ones after a failure. */
export async function runLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async () => {
    while (next < items.length && errors.length === 0 && !signal?.aborted) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (error) {
        errors.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (errors.length > 0) throw errors[0];
  if (signal?.aborted) throw signal.reason ?? new Error("aborted");
}

interface LocalFile {
  rel: string;
  file: string;
  size: number;
  mtimeMs: number;
}

/** Every regular file under `dir` (following symlinks to files), relative paths with "/". */
export async function walkFiles(
  dir: string,
  exclude: (rel: string) => boolean,
): Promise<LocalFile[]> {
  const out: LocalFile[] = [];
  // A folder's entries are stat()ed and descended into all at once: one by one, a
  // no-change sync of a few hundred files waited on each stat in turn.
  const walk = async (abs: string, rel: string): Promise<void> => {
    const entries = await readdir(abs, { withFileTypes: true });
    await Promise.all(
      entries.map(async (entry) => {
        const childRel = rel ? `${rel}/${entry.name}` : entry.name;
        if (exclude(childRel)) return;
        const childAbs = join(abs, entry.name);
        if (entry.isDirectory()) {
          await walk(childAbs, childRel);
        } else if (entry.isFile() || entry.isSymbolicLink()) {
          const st = await stat(childAbs).catch(() => undefined);
          if (st?.isFile())
            out.push({ rel: childRel, file: childAbs, size: st.size, mtimeMs: st.mtimeMs });
        }
      }),
    );
  };
  await walk(dir, "");
  out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return out;
}

async function listAll(
  storage: Storage,
  prefix: string,
  signal?: AbortSignal,
): Promise<Map<string, ObjectInfo>> {
  const remote = new Map<string, ObjectInfo>();
  for await (const info of storage.list(prefix, { signal })) remote.set(info.key, info);
  return remote;
}

async function openCache(options: SyncOptions): Promise<SyncCache> {
  if (options.cache) return options.cache;
  return options.stateDir ? SyncCache.open(options.stateDir) : SyncCache.empty();
}

export async function planUpload(
  storage: Storage,
  localDir: string,
  keyPrefix: string,
  options: UploadOptions = {},
): Promise<UploadPlan> {
  const prefix = normalizePrefix(keyPrefix);
  const dir = resolve(localDir);
  const cache = await openCache(options);
  const concurrency = options.concurrency ?? 8;
  const [files, remote] = await Promise.all([
    walkFiles(dir, options.exclude ?? defaultExclude),
    listAll(storage, prefix, options.signal),
  ]);
  for (const f of files) {
    const why = explainUnsafeKey(f.rel);
    if (why) {
      throw new StorageError(
        "unsafe-key",
        `Cannot upload ${f.file}: its name cannot be a storage key (${why}); rename it.`,
      );
    }
  }
  const plan: UploadPlan = {
    keyPrefix: prefix,
    localDir: dir,
    uploads: [],
    deletes: [],
    skipped: 0,
    heads: 0,
  };
  const store = storage.location;
  const actions: (UploadAction | undefined)[] = new Array(files.length);
  await runLimited(
    files.map((f, i) => ({ f, i })),
    concurrency,
    async ({ f, i }) => {
      const key = prefix + f.rel;
      const action = { key, file: f.file, size: f.size, mtimeMs: f.mtimeMs };
      const obj = remote.get(key);
      // New or resized files need no hash to decide: it is computed by the transfer worker,
      // so hashing one file overlaps uploading others.
      if (!obj) {
        actions[i] = { ...action, reason: "new" };
        return;
      }
      if (obj.size !== f.size) {
        actions[i] = { ...action, reason: "changed" };
        return;
      }
      const sha256 = await cache.hash(f.file, f.size, f.mtimeMs, options.signal);
      let remoteHash = obj.sha256 ?? cache.knownRemoteHash(store, key, obj.size, obj.etag);
      if (remoteHash === undefined) {
        plan.heads++;
        const head = await storage.head(key, { signal: options.signal });
        remoteHash = head?.sha256;
        if (head?.sha256 && head.etag) {
          cache.rememberRemote(store, key, {
            size: head.size,
            etag: head.etag,
            sha256: head.sha256,
          });
        }
      }
      if (remoteHash === sha256) return;
      actions[i] = {
        ...action,
        sha256,
        reason: remoteHash === undefined ? "unverified" : "changed",
      };
    },
    options.signal,
  );
  for (const a of actions) if (a) plan.uploads.push(a);
  plan.skipped = files.length - plan.uploads.length;
  if (options.delete) {
    const local = new Set(files.map((f) => prefix + f.rel));
    for (const [key, obj] of remote)
      if (!local.has(key)) plan.deletes.push({ key, size: obj.size });
  }
  if (!options.cache) await cache.save();
  return plan;
}

export async function executeUpload(
  storage: Storage,
  plan: UploadPlan,
  options: SyncOptions = {},
  startedAt = performance.now(),
): Promise<UploadSummary> {
  const cache = await openCache(options);
  const progress = options.progress ?? silentProgress;
  const store = storage.location;
  let bytes = 0;
  progress.start(
    plan.uploads.length + plan.deletes.length,
    plan.uploads.reduce((sum, a) => sum + a.size, 0),
  );
  try {
    await runLimited(
      plan.uploads,
      options.concurrency ?? 8,
      async (action) => {
        // The plan hashed the file at one (size, mtime); a change before or during the
        // upload shows in the stat after it (and small files are re-hashed in memory).
        const sha256 =
          action.sha256 ??
          (await cache.hash(action.file, action.size, action.mtimeMs, options.signal));
        let sent = 0;
        const result = await storage.putFile(action.key, action.file, {
          sha256,
          size: action.size,
          signal: options.signal,
          onProgress: (n) => {
            progress.addBytes(n - sent);
            sent = n;
          },
        });
        const st = await stat(action.file);
        if (st.size !== action.size || st.mtimeMs !== action.mtimeMs) {
          throw new StorageError(
            "transfer",
            `${action.file} changed while it was being uploaded: run the upload again once it is written.`,
          );
        }
        progress.addBytes(st.size - sent);
        progress.fileDone();
        bytes += st.size;
        if (result.etag)
          cache.rememberRemote(store, action.key, { size: st.size, etag: result.etag, sha256 });
        options.logger?.debug({ key: action.key, reason: action.reason }, "uploaded");
      },
      options.signal,
    );
    await runLimited(
      plan.deletes,
      options.concurrency ?? 8,
      async ({ key }) => {
        await storage.delete(key, { signal: options.signal });
        cache.forgetRemote(store, key);
        progress.fileDone();
        options.logger?.debug({ key }, "deleted");
      },
      options.signal,
    );
  } finally {
    progress.stop();
    if (!options.cache) await cache.save();
  }
  return {
    uploaded: plan.uploads.length,
    skipped: plan.skipped,
    deleted: plan.deletes.length,
    bytes,
    seconds: round((performance.now() - startedAt) / 1000),
  };
}

function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}

/** Plan and upload `localDir` to `keyPrefix`. With `dryRun`, only the plan is made. */
export async function uploadDir(
  storage: Storage,
  localDir: string,
  keyPrefix: string,
  options: UploadOptions & { dryRun?: boolean } = {},
): Promise<UploadSummary & { plan: UploadPlan }> {
  const startedAt = performance.now();
  const cache = await openCache(options);
  const shared = { ...options, cache };
  try {
    const plan = await planUpload(storage, localDir, keyPrefix, shared);
    if (options.dryRun) {
      return {
        plan,
        uploaded: plan.uploads.length,
        skipped: plan.skipped,
        deleted: plan.deletes.length,
        bytes: plan.uploads.reduce((s, a) => s + a.size, 0),
        seconds: round((performance.now() - startedAt) / 1000),
      };
    }
    return { plan, ...(await executeUpload(storage, plan, shared, startedAt)) };
  } finally {
    if (!options.cache) await cache.save();
  }
}

export async function planDownload(
  storage: Storage,
  keyPrefix: string,
  localDir: string,
  options: SyncOptions = {},
): Promise<DownloadPlan> {
  const prefix = normalizePrefix(keyPrefix);
  const dir = resolve(localDir);
  const cache = await openCache(options);
  const store = storage.location;
  const remote = [...(await listAll(storage, prefix, options.signal)).values()].filter(
    // Zero-byte "folder" markers some tools create are not files.
    (o) => !(o.key.endsWith("/") && o.size === 0),
  );
  // Refuse the whole plan on one bad key: nothing is written anywhere.
  const targets = remote.map((o) => ({
    obj: o,
    file: localPathForKey(dir, o.key, o.key.slice(prefix.length)),
  }));
  const plan: DownloadPlan = {
    keyPrefix: prefix,
    localDir: dir,
    downloads: [],
    skipped: 0,
    heads: 0,
  };
  const actions: (DownloadAction | undefined)[] = new Array(targets.length);
  // Into a folder that is not there yet (a run's first download) every file is new: one
  // stat instead of one per file.
  const dirExists = await stat(dir).then(
    () => true,
    () => false,
  );
  await runLimited(
    targets.map((t, i) => ({ ...t, i })),
    options.concurrency ?? 8,
    async ({ obj, file, i }) => {
      const action = { key: obj.key, file, size: obj.size, etag: obj.etag };
      const st = dirExists ? await stat(file).catch(() => undefined) : undefined;
      if (!st?.isFile()) {
        actions[i] = { ...action, reason: "new" };
        return;
      }
      if (st.size !== obj.size) {
        actions[i] = { ...action, reason: "changed" };
        return;
      }
      let remoteHash = obj.sha256 ?? cache.knownRemoteHash(store, obj.key, obj.size, obj.etag);
      if (remoteHash === undefined) {
        plan.heads++;
        const head = await storage.head(obj.key, { signal: options.signal });
        remoteHash = head?.sha256;
        if (head?.sha256 && head.etag) {
          cache.rememberRemote(store, obj.key, {
            size: head.size,
            etag: head.etag,
            sha256: head.sha256,
          });
        }
      }
      if (remoteHash === undefined) {
        actions[i] = { ...action, reason: "unverified" };
        return;
      }
      const localHash = await cache.hash(file, st.size, st.mtimeMs, options.signal);
      if (localHash !== remoteHash) actions[i] = { ...action, reason: "changed" };
    },
    options.signal,
  );
  for (const a of actions) if (a) plan.downloads.push(a);
  plan.skipped = targets.length - plan.downloads.length;
  if (!options.cache) await cache.save();
  return plan;
}

export async function executeDownload(
  storage: Storage,
  plan: DownloadPlan,
  options: SyncOptions = {},
  startedAt = performance.now(),
): Promise<DownloadSummary> {
  const cache = await openCache(options);
  const progress = options.progress ?? silentProgress;
  const store = storage.location;
  let bytes = 0;
  progress.start(
    plan.downloads.length,
    plan.downloads.reduce((sum, a) => sum + a.size, 0),
  );
  const hashes = new Map<string, string>();
  // Each folder is created and checked for links once, not once per file in it.
  const folders = new Map<string, Promise<void>>();
  const prepare = (action: DownloadAction) => {
    const folder = dirname(action.file);
    let ready = folders.get(folder);
    if (!ready) {
      ready = prepareInside(plan.localDir, action.file, action.key);
      folders.set(folder, ready);
    }
    return ready;
  };
  try {
    await runLimited(
      plan.downloads,
      options.concurrency ?? 8,
      async (action) => {
        await prepare(action);
        let got = 0;
        const info = await storage.getFile(action.key, action.file, {
          signal: options.signal,
          onProgress: (n) => {
            progress.addBytes(n - got);
            got = n;
          },
        });
        const st = await stat(action.file);
        progress.addBytes(st.size - got);
        progress.fileDone();
        bytes += st.size;
        if (info.sha256) {
          hashes.set(resolve(action.file), info.sha256);
          cache.rememberHash(action.file, st.size, st.mtimeMs, info.sha256);
          const etag = info.etag ?? action.etag;
          if (etag)
            cache.rememberRemote(store, action.key, { size: info.size, etag, sha256: info.sha256 });
        }
      },
      options.signal,
    );
  } finally {
    progress.stop();
    if (!options.cache) await cache.save();
  }
  return {
    downloaded: plan.downloads.length,
    skipped: plan.skipped,
    bytes,
    seconds: round((performance.now() - startedAt) / 1000),
    hashes,
  };
}

/** Plan and download everything under `keyPrefix` into `localDir`. */
export async function downloadPrefix(
  storage: Storage,
  keyPrefix: string,
  localDir: string,
  options: SyncOptions & { dryRun?: boolean } = {},
): Promise<DownloadSummary & { plan: DownloadPlan }> {
  const startedAt = performance.now();
  const cache = await openCache(options);
  const shared = { ...options, cache };
  try {
    const plan = await planDownload(storage, keyPrefix, localDir, shared);
    if (options.dryRun) {
      return {
        plan,
        downloaded: plan.downloads.length,
        skipped: plan.skipped,
        bytes: plan.downloads.reduce((s, a) => s + a.size, 0),
        seconds: round((performance.now() - startedAt) / 1000),
      };
    }
    return { plan, ...(await executeDownload(storage, plan, shared, startedAt)) };
  } finally {
    if (!options.cache) await cache.save();
  }
}
