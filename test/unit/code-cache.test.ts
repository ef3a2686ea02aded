/**
 * The bundle loader behind the bin (src/launch/code-cache.ts), in-process on small CommonJS
 * chunks written here: module semantics, and cache files that are missing, damaged or stale
 * are never handed to V8 and are written again. (V8 itself rejecting a file, and the real
 * bundle, are in test/integration/code-cache.test.ts: in one process V8's own in-memory cache
 * answers a second compile of the same source before any cached data is looked at.)
 */
import { createHash, randomUUID } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import {
  codeCacheFolder,
  createBundleLoader,
  IMPORT_META_URL,
} from "../../src/launch/code-cache.js";
import { makeTempDir } from "../helpers/cli.js";

const temps: { cleanup: () => void }[] = [];
afterEach(() => {
  for (const t of temps.splice(0)) t.cleanup();
});

/** A two-chunk bundle; a fresh nonce makes each test's sources new to V8. */
function writeBundle(): { dir: string; entry: string; cacheDir: string } {
  const t = makeTempDir("pf-code-cache-");
  temps.push(t);
  const dir = join(t.dir, "bin");
  mkdirSync(join(dir, "chunks"), { recursive: true });
  const nonce = randomUUID();
  writeFileSync(
    join(dir, "chunks", "shared.js"),
    `// ${nonce}\nlet count = 0;\nexports.next = () => ++count;\nexports.url = ${IMPORT_META_URL};\nexports.dir = __dirname;\n`,
  );
  writeFileSync(
    join(dir, "chunks", "lazy.js"),
    `// ${nonce}\nconst shared = require("./shared.js");\nexports.value = () => shared.next();\n`,
  );
  writeFileSync(
    join(dir, "cli.js"),
    `// ${nonce}\nconst shared = require("./chunks/shared.js");\nconst { join } = require("node:path");\nexports.first = shared.next();\nexports.joined = join("a", "b");\nexports.lazy = () => Promise.resolve().then(() => require("./chunks/lazy.js"));\nexports.shared = shared;\n`,
  );
  return { dir, entry: join(dir, "cli.js"), cacheDir: join(t.dir, "cache", "build") };
}

interface Entry {
  first: number;
  joined: string;
  lazy(): Promise<{ value(): number }>;
  shared: { url: string; dir: string; next(): number };
}

describe("createBundleLoader", () => {
  it("loads chunks as CommonJS modules: one instance per file, builtins from Node, import.meta.url per chunk", async () => {
    const { dir, entry } = writeBundle();
    const loader = createBundleLoader();
    const cli = loader.require(entry) as Entry;
    expect(cli.first).toBe(1);
    expect(cli.joined).toBe(join("a", "b"));
    expect(cli.shared.url).toBe(pathToFileURL(join(dir, "chunks", "shared.js")).href);
    expect(cli.shared.dir).toBe(join(dir, "chunks"));
    expect(loader.require(entry)).toBe(cli);
    // The lazy chunk shares the entry's instance of shared.js: the counter goes on.
    expect((await cli.lazy()).value()).toBe(2);
    expect(loader.stats.compiled).toEqual([
      "cli.js",
      join("chunks", "shared.js"),
      join("chunks", "lazy.js"),
    ]);
    // No cache folder: nothing to write.
    loader.saveCache();
  });

  it("writes one cache file per compiled chunk, and the next loader reads them", () => {
    const { entry, cacheDir } = writeBundle();
    const first = createBundleLoader({ cacheDir });
    first.require(entry);
    expect(first.stats.fromCache).toEqual([]);
    first.saveCache();
    expect(readdirSync(cacheDir).sort()).toEqual(["chunks__shared.js.bin", "cli.js.bin"]);
    const second = createBundleLoader({ cacheDir });
    expect((second.require(entry) as Entry).first).toBe(1);
    expect(second.stats.fromCache).toEqual(["cli.js", join("chunks", "shared.js")]);
    expect(second.stats.compiled).toEqual([]);
  });

  it("never caches the chunks it is told not to", () => {
    const { entry, cacheDir } = writeBundle();
    const uncached = [join("chunks", "shared.js")];
    const first = createBundleLoader({ cacheDir, uncached });
    first.require(entry);
    first.saveCache();
    expect(readdirSync(cacheDir)).toEqual(["cli.js.bin"]);
    const second = createBundleLoader({ cacheDir, uncached });
    second.require(entry);
    expect(second.stats).toEqual({ fromCache: ["cli.js"], compiled: uncached });
  });

  const damages: [string, (bytes: Buffer) => Buffer][] = [
    ["a flipped byte in V8's data", (b) => flip(b, b.length - 5)],
    ["a flipped byte in the hash", (b) => flip(b, 20)],
    ["a truncated file", (b) => b.subarray(0, b.length >> 1)],
    ["an empty file", () => Buffer.alloc(0)],
    ["another chunk's size (stale)", (b) => rehash(b, (h) => h.writeDoubleLE(1, 0))],
    ["another chunk's mtime (stale)", (b) => rehash(b, (h) => h.writeDoubleLE(12345, 8))],
  ];
  for (const [what, damage] of damages) {
    it(`ignores ${what}, compiles from source and writes the file again`, () => {
      const { entry, cacheDir } = writeBundle();
      const first = createBundleLoader({ cacheDir });
      first.require(entry);
      first.saveCache();
      const file = join(cacheDir, "cli.js.bin");
      const good = readFileSync(file);
      writeFileSync(file, damage(Buffer.from(good)));
      const second = createBundleLoader({ cacheDir });
      expect((second.require(entry) as Entry).first).toBe(1);
      expect(second.stats.compiled).toEqual(["cli.js"]);
      expect(second.stats.fromCache).toEqual([join("chunks", "shared.js")]);
      second.saveCache();
      const rewritten = readFileSync(file);
      expect(rewritten.length).toBeGreaterThan(48);
      const third = createBundleLoader({ cacheDir });
      third.require(entry);
      expect(third.stats.compiled).toEqual([]);
    });
  }

  it("a cache folder that cannot be written is no error: the command runs as without one", () => {
    const { entry, cacheDir } = writeBundle();
    mkdirSync(join(cacheDir, ".."), { recursive: true });
    writeFileSync(cacheDir, "a file where the folder should be");
    const loader = createBundleLoader({ cacheDir });
    expect((loader.require(entry) as Entry).first).toBe(1);
    expect(() => loader.saveCache()).not.toThrow();
    expect(statSync(cacheDir).isFile()).toBe(true);
  });

  it("names the folder after the build, the Node version and the architecture", () => {
    const a = codeCacheFolder("/c", "build-a");
    expect(a).toContain(process.versions.node);
    expect(a).toContain(process.arch);
    expect(a.startsWith(join("/c", "code"))).toBe(true);
    expect(codeCacheFolder("/c", "build-b")).not.toBe(a);
  });

  it("gives runs with node options (other V8 flags) a folder of their own", () => {
    const plain = codeCacheFolder("/c", "b", "");
    const flagged = codeCacheFolder("/c", "b", "--max-old-space-size=4096");
    expect(flagged).not.toBe(plain);
    expect(flagged.startsWith(plain)).toBe(true);
    expect(codeCacheFolder("/c", "b", "--max-old-space-size=4096")).toBe(flagged);
  });
});

function flip(bytes: Buffer, at: number): Buffer {
  bytes[at] = (bytes[at] ?? 0) ^ 0xff;
  return bytes;
}

/** Changes the header and writes a hash that matches it: only the size/mtime check can tell. */
function rehash(bytes: Buffer, edit: (header: Buffer) => void): Buffer {
  const header = Buffer.from(bytes.subarray(0, 16));
  edit(header);
  const data = bytes.subarray(48);
  const hash = createHash("sha256").update(header).update(data).digest();
  return Buffer.concat([header, hash, data]);
}
