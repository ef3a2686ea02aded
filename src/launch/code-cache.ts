/**
 * Runs the bundled CLI's CommonJS chunks (dist/bin/, written by scripts/bundle.mjs) through
 * V8's code cache, so a start does not compile the same megabyte of JavaScript every time.
 *
 * Why by hand: Node 20 caches no compiled code for ES modules or require() (Node's own compile
 * cache, module.enableCompileCache, starts with 22.1), but `new vm.Script(source, {cachedData})`
 * accepts what an earlier `script.createCachedData()` produced. So each chunk is wrapped like a
 * CommonJS module and compiled as a vm.Script; the first run writes the chunks' compiled code
 * at exit (after the command ran, so the functions it used are in the cache too), later runs
 * read it back. `require()` of another chunk of the bundle goes through this loader (one module
 * instance per file, as Node's loader gives); builtins and packages left outside the bundle go
 * to Node's require().
 *
 * A cache file is used only when it is exactly what this run would produce: its folder is named
 * after the bundle's build id (a hash of every chunk) and the Node version and architecture;
 * inside, each file records the chunk's size and mtime and a sha256 of itself. V8 checks its
 * own version, flags and the source length, but not the payload: a damaged file could crash
 * the process, so nothing unverified reaches V8. Anything off (missing, damaged, stale,
 * rejected by V8) means: compile from source, and write a fresh file at exit. Writing never
 * fails a command (read-only or full disk: no cache, same result).
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";
import * as vm from "node:vm";

/**
 * The name scripts/bundle.mjs gives `import.meta.url` in the chunks (esbuild's `define`): each
 * chunk receives its own file URL under it, as an ES module would see it.
 */
export const IMPORT_META_URL = "__posefactoryImportMetaUrl";

/** Bumped when the file layout below changes: old files then live in another folder. */
const FORMAT = "v1";
/** size (float64), mtimeMs (float64), sha256 of everything after it, then V8's data. */
const HEADER_BYTES = 16;
const HASH_BYTES = 32;

export interface BundleLoaderOptions {
  /**
   * This build's cache folder (see codeCacheFolder); undefined: compile from source and write
   * nothing.
   */
  cacheDir?: string;
  /** Chunks (names relative to the first chunk's folder) always compiled from source. */
  uncached?: readonly string[];
}

export interface BundleLoader {
  /** Loads (once) and returns a chunk's exports; `file` is an absolute path. */
  require(file: string): unknown;
  /** Writes a cache file for every chunk compiled from source in this process. Never throws. */
  saveCache(): void;
  /** What happened per chunk (file names relative to the first chunk's folder): for tests. */
  readonly stats: { fromCache: string[]; compiled: string[] };
}

interface Pending {
  script: vm.Script;
  cacheFile: string;
  size: number;
  mtimeMs: number;
}

/**
 * `<cacheRoot>/code/<format>-<node version>-<arch>-<buildId>[-<flags>]`: a new build or a new
 * Node never reads another's files. V8 refuses cached code made under other V8 flags, so runs
 * with node options of their own (NODE_OPTIONS, `node --...`) get a folder of their own
 * instead of rewriting the common one at every switch.
 */
export function codeCacheFolder(
  cacheRoot: string,
  buildId: string,
  nodeOptions = [...process.execArgv, process.env.NODE_OPTIONS ?? ""].join(" ").trim(),
): string {
  const flags = nodeOptions
    ? `-${createHash("sha256").update(nodeOptions).digest("hex").slice(0, 8)}`
    : "";
  return join(
    cacheRoot,
    "code",
    `${FORMAT}-node${process.versions.node}-${process.arch}-${buildId}${flags}`,
  );
}

export function createBundleLoader(options: BundleLoaderOptions = {}): BundleLoader {
  const modules = new Map<string, { exports: unknown }>();
  const pending: Pending[] = [];
  const stats = { fromCache: [] as string[], compiled: [] as string[] };
  let base: string | undefined;

  function load(file: string): unknown {
    const known = modules.get(file);
    if (known) return known.exports;
    base ??= dirname(file);
    const name = relative(base, file);
    const module = { exports: {} as unknown };
    modules.set(file, module);
    const source = fs.readFileSync(file, "utf8");
    const { size, mtimeMs } = fs.statSync(file);
    const cacheFile =
      options.cacheDir && !options.uncached?.includes(name)
        ? join(options.cacheDir, `${name.split(sep).join("__")}.bin`)
        : undefined;
    const cachedData = cacheFile ? readCacheFile(cacheFile, size, mtimeMs) : undefined;
    // The same wrapper as Node's CommonJS loader, plus the chunk's import.meta.url.
    const wrapped = `(function (exports, require, module, __filename, __dirname, ${IMPORT_META_URL}) {${source}\n})`;
    const script = new vm.Script(wrapped, { filename: file, cachedData });
    if (cachedData && !script.cachedDataRejected) stats.fromCache.push(name);
    else {
      stats.compiled.push(name);
      if (cacheFile) pending.push({ script, cacheFile, size, mtimeMs });
    }
    const nodeRequire = createRequire(file);
    const dir = dirname(file);
    // Relative requires are the bundle's own chunks (esbuild resolved everything else).
    const chunkRequire = Object.assign(
      (specifier: string) =>
        specifier.startsWith("./") || specifier.startsWith("../")
          ? load(resolve(dir, specifier))
          : nodeRequire(specifier),
      { resolve: nodeRequire.resolve, cache: nodeRequire.cache, main: undefined },
    );
    const run = script.runInThisContext() as (...args: unknown[]) => void;
    // Most chunks never read import.meta.url: no URL to build for them.
    const url = source.includes(IMPORT_META_URL) ? pathToFileURL(file).href : undefined;
    run.call(module.exports, module.exports, chunkRequire, module, file, dir, url);
    return module.exports;
  }

  function saveCache(): void {
    if (!options.cacheDir || pending.length === 0) return;
    try {
      if (fs.mkdirSync(options.cacheDir, { recursive: true })) pruneOtherBuilds(options.cacheDir);
      for (const { script, cacheFile, size, mtimeMs } of pending.splice(0)) {
        writeCacheFile(cacheFile, script.createCachedData(), size, mtimeMs);
      }
    } catch {
      // No cache this time (read-only or full disk, a folder in the way): the next run
      // compiles from source again, with the same result.
    }
  }

  return { require: load, saveCache, stats };
}

/** Folders of other builds untouched for a week: what an upgrade of Node or posefactory left. */
const PRUNE_AFTER_MS = 7 * 24 * 3600 * 1000;

function pruneOtherBuilds(folder: string): void {
  const parent = dirname(folder);
  for (const entry of fs.readdirSync(parent)) {
    const other = join(parent, entry);
    if (other === folder) continue;
    try {
      if (Date.now() - fs.statSync(other).mtimeMs > PRUNE_AFTER_MS)
        fs.rmSync(other, { recursive: true, force: true });
    } catch {
      // Another run removed it first.
    }
  }
}

function digest(header: Uint8Array, data: Uint8Array): Buffer {
  return createHash("sha256").update(header).update(data).digest();
}

/** The V8 data of a cache file that matches this chunk and is intact, else undefined. */
function readCacheFile(file: string, size: number, mtimeMs: number): Buffer | undefined {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch {
    return undefined;
  }
  if (bytes.length <= HEADER_BYTES + HASH_BYTES) return undefined;
  if (bytes.readDoubleLE(0) !== size || bytes.readDoubleLE(8) !== mtimeMs) return undefined;
  const header = bytes.subarray(0, HEADER_BYTES);
  const data = bytes.subarray(HEADER_BYTES + HASH_BYTES);
  const hash = bytes.subarray(HEADER_BYTES, HEADER_BYTES + HASH_BYTES);
  return digest(header, data).equals(hash) ? data : undefined;
}

/** Written beside, then renamed: a concurrent run reads the old file or the new, never half. */
function writeCacheFile(file: string, data: Buffer, size: number, mtimeMs: number): void {
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeDoubleLE(size, 0);
  header.writeDoubleLE(mtimeMs, 8);
  const temp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(temp, Buffer.concat([header, digest(header, data), data]));
    fs.renameSync(temp, file);
  } catch {
    fs.rmSync(temp, { force: true });
  }
}
