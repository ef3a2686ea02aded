/**
 * The bin's V8 code cache (src/launch/bin.ts, code-cache.ts) with the real bundle, each run a
 * process of its own as a user's shell starts it: the first run writes the cache, later runs
 * use it without writing, and a cache that is damaged, stale or rejected by V8 gives the same
 * output and is written again.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { BIN, cleanEnv, makeTempDir, ROOT } from "../helpers/cli.js";

const run = promisify(execFile);
const temps: { cleanup: () => void }[] = [];
afterAll(() => {
  for (const t of temps) t.cleanup();
});
const VERSION = (
  JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }
).version;

function setup(): { cacheRoot: string; env: NodeJS.ProcessEnv; cwd: string } {
  const t = makeTempDir("pf-code-cache-bin-");
  temps.push(t);
  const cacheRoot = join(t.dir, "cache");
  mkdirSync(t.home, { recursive: true });
  return { cacheRoot, env: cleanEnv({ POSEFACTORY_CACHE_DIR: cacheRoot }, t.home), cwd: t.dir };
}

async function posefactory(args: string[], s: { env: NodeJS.ProcessEnv; cwd: string }) {
  const { stdout, stderr } = await run(process.execPath, [BIN, ...args], {
    env: s.env,
    cwd: s.cwd,
  });
  return { stdout, stderr };
}

/** This build's cache files: name -> inode (a rewrite renames a new file into place). */
function cacheFiles(cacheRoot: string): Map<string, number> {
  const code = join(cacheRoot, "code");
  const builds = readdirSync(code);
  expect(builds).toHaveLength(1);
  const folder = join(code, builds[0]!);
  return new Map(readdirSync(folder).map((f) => [join(folder, f), statSync(join(folder, f)).ino]));
}

describe("the bin's code cache", () => {
  it("is written by the first run and read, unchanged, by the next", async () => {
    const s = setup();
    expect((await posefactory(["--version"], s)).stdout.trim()).toBe(VERSION);
    const files = cacheFiles(s.cacheRoot);
    expect([...files.keys()].some((f) => f.endsWith("cli.js.bin"))).toBe(true);
    expect((await posefactory(["--version"], s)).stdout.trim()).toBe(VERSION);
    expect(cacheFiles(s.cacheRoot)).toEqual(files);
  });

  const damages: [string, (bytes: Buffer) => Buffer][] = [
    [
      "damaged (bytes flipped in V8's data)",
      (b) => Buffer.from(b.map((x, i) => (i > 64 && i % 7 === 0 ? x ^ 0xff : x))),
    ],
    ["truncated", (b) => b.subarray(0, b.length >> 1)],
    // A file whose own hash is right but whose data V8 refuses (another V8's, say).
    ["rejected by V8", (b) => withHash(b, Buffer.from("not V8 code cache data ".repeat(40)))],
  ];
  for (const [what, damage] of damages) {
    it(`${what}: the same output, and every file is written again`, async () => {
      const s = setup();
      const help = (await posefactory(["upload", "--help"], s)).stdout;
      const files = cacheFiles(s.cacheRoot);
      for (const file of files.keys()) writeFileSync(file, damage(readFileSync(file)));
      const again = await posefactory(["upload", "--help"], s);
      expect(again.stdout).toBe(help);
      expect(again.stderr).toBe("");
      const rewritten = cacheFiles(s.cacheRoot);
      expect([...rewritten.keys()]).toEqual([...files.keys()]);
      for (const [file, inode] of rewritten) expect(inode, file).not.toBe(files.get(file));
      // And the new files are good: the next run writes nothing.
      await posefactory(["upload", "--help"], s);
      expect(cacheFiles(s.cacheRoot)).toEqual(rewritten);
    });
  }

  it("POSEFACTORY_CODE_CACHE=0 runs without one and writes nothing", async () => {
    const s = setup();
    s.env.POSEFACTORY_CODE_CACHE = "0";
    expect((await posefactory(["--version"], s)).stdout.trim()).toBe(VERSION);
    expect(() => readdirSync(s.cacheRoot)).toThrow();
  });

  it("a cache folder that cannot be made is no error", async () => {
    const s = setup();
    writeFileSync(s.cacheRoot, "a file where the folder should be");
    const { stdout, stderr } = await posefactory(["--version"], s);
    expect(stdout.trim()).toBe(VERSION);
    expect(stderr).toBe("");
  });
});

describe("the bin's cache of the validated config", () => {
  it("a warning on every run, an edit used at once, a broken config refused every time", async () => {
    const s = setup();
    const file = join(s.cwd, "posefactory.yaml");
    writeFileSync(file, "render:\n  samples: 8\nbogus: 1\n");
    const show = async () => {
      const r = await posefactory(["config", "show", "--json"], s);
      return {
        samples: (JSON.parse(r.stdout) as { render: { samples: number } }).render.samples,
        stderr: r.stderr,
      };
    };
    const first = await show();
    expect(first.samples).toBe(8);
    expect(first.stderr).toMatch(/posefactory\.yaml:3:1 bogus: unknown key/);
    expect(readdirSync(join(s.cacheRoot, "config"))).toHaveLength(1);
    // From the cache: the same answer and the same warning (its line's time may differ).
    const second = await show();
    expect(second.samples).toBe(8);
    expect(second.stderr.replace(/\d\d:\d\d:\d\d/g, "")).toBe(
      first.stderr.replace(/\d\d:\d\d:\d\d/g, ""),
    );
    // Same size, same second: only the text tells.
    writeFileSync(file, "render:\n  samples: 9\nbogus: 1\n");
    expect((await show()).samples).toBe(9);
    writeFileSync(file, "render:\n  samples: x\n");
    for (let i = 0; i < 2; i++) {
      const error = await posefactory(["config", "show"], s).catch(
        (e: { code: number; stderr: string }) => e,
      );
      expect(error).toMatchObject({ code: 2 });
      expect((error as { stderr: string }).stderr).toMatch(
        /posefactory\.yaml:2:\d+ render\.samples/,
      );
    }
  });

  it("POSEFACTORY_CODE_CACHE=0 keeps none", async () => {
    const s = setup();
    s.env.POSEFACTORY_CODE_CACHE = "0";
    writeFileSync(join(s.cwd, "posefactory.yaml"), "target: local\n");
    await posefactory(["config", "show"], s);
    expect(() => readdirSync(s.cacheRoot)).toThrow();
  });
});

/** The loader's file layout: size, mtime (16 bytes), sha256 of those and the data, the data. */
function withHash(file: Buffer, data: Buffer): Buffer {
  const header = file.subarray(0, 16);
  const hash = createHash("sha256").update(header).update(data).digest();
  return Buffer.concat([header, hash, data]);
}
