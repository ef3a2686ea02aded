/** Sync planning and transfers with the folder storage (fs.ts), progress output. */
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../src/log.js";
import { createFsStorage } from "../../src/storage/fs.js";
import { hashBytes, SyncCache } from "../../src/storage/hash.js";
import { createProgress, formatBytes } from "../../src/storage/progress.js";
import { downloadPrefix, planUpload, uploadDir } from "../../src/storage/sync.js";

const temps: string[] = [];
afterEach(() => {
  for (const t of temps.splice(0)) rmSync(t, { recursive: true, force: true });
});
function temp(): string {
  const t = mkdtempSync(join(tmpdir(), "pf-sync-"));
  temps.push(t);
  return t;
}

const NAMES = [
  "plain.txt",
  "with space.fbx",
  `q"uo'te.glb`,
  "$dollar $(x).blend",
  "Ünï 日本/😀.json",
];

function writeNames(dir: string): void {
  for (const name of NAMES) {
    const file = join(dir, ...name.split("/"));
    mkdirSync(join(file, ".."), { recursive: true });
    writeFileSync(file, `content of ${name}`);
  }
}

describe("folder storage sync", () => {
  it("uploads, skips unchanged, re-uploads a change, mirrors deletes, round-trips odd names", async () => {
    const t = temp();
    const src = join(t, "src");
    mkdirSync(src);
    writeNames(src);
    mkdirSync(join(src, "__pycache__"));
    writeFileSync(join(src, "__pycache__", "x.pyc"), "ignored");
    const storage = createFsStorage({ root: join(t, "store") });
    const stateDir = join(t, ".posefactory");

    const first = await uploadDir(storage, src, "inputs/", { stateDir });
    expect(first).toMatchObject({ uploaded: NAMES.length, skipped: 0 });
    const listed = [];
    for await (const o of storage.list("inputs/")) listed.push(o);
    expect(listed.map((o) => o.key.slice(7)).sort()).toEqual([...NAMES].sort());
    // The folder storage returns the sha256 from its sidecar: no re-hashing, no HEAD.
    for (const o of listed) expect(o.sha256).toBe(hashBytes(`content of ${o.key.slice(7)}`));

    const second = await uploadDir(storage, src, "inputs/", { stateDir });
    expect(second).toMatchObject({ uploaded: 0, skipped: NAMES.length });
    expect(second.plan.heads).toBe(0);

    appendFileSync(join(src, "plain.txt"), "!");
    rmSync(join(src, "with space.fbx"));
    const dry = await planUpload(storage, src, "inputs/", { stateDir, delete: true });
    expect(dry.uploads.map((u) => u.key)).toEqual(["inputs/plain.txt"]);
    expect(dry.deletes.map((d) => d.key)).toEqual(["inputs/with space.fbx"]);
    const third = await uploadDir(storage, src, "inputs/", { stateDir, delete: true });
    expect(third).toMatchObject({ uploaded: 1, deleted: 1 });

    const dest = join(t, "dest");
    const down = await downloadPrefix(storage, "inputs/", dest, { stateDir });
    expect(down.downloaded).toBe(NAMES.length - 1);
    for (const name of NAMES.filter((n) => n !== "with space.fbx")) {
      expect(readFileSync(join(dest, ...name.split("/")), "utf8")).toBe(
        readFileSync(join(src, ...name.split("/")), "utf8"),
      );
    }
    const again = await downloadPrefix(storage, "inputs/", dest, { stateDir });
    expect(again).toMatchObject({ downloaded: 0, skipped: NAMES.length - 1 });
  });

  it("putStream, putBytes/getBytes, listChildren, delete prunes empty folders", async () => {
    const t = temp();
    const storage = createFsStorage({ root: join(t, "store") });
    const body = Buffer.from("streamed body");
    await storage.putStream("runs/r1/a.bin", Readable.from([body]), body.length, {
      sha256: hashBytes(body),
    });
    await storage.putBytes("runs/r2/job.json", "{}");
    expect((await storage.getBytes("runs/r1/a.bin"))?.equals(body)).toBe(true);
    expect(await storage.getBytes("runs/none.json")).toBeUndefined();
    expect(await storage.listChildren("runs/")).toEqual(["r1", "r2"]);
    expect((await storage.head("runs/r2/job.json"))?.sha256).toBe(hashBytes("{}"));
    await storage.delete("runs/r2/job.json");
    expect(await storage.listChildren("runs/")).toEqual(["r1"]);
    await expect(
      storage.putStream("runs/r1/b.bin", Readable.from([body]), body.length, {
        sha256: "0".repeat(64),
      }),
    ).rejects.toThrow("differs");
    expect(await storage.head("runs/r1/b.bin")).toBeUndefined();
  });

  it("the hash cache keeps an unchanged file from being re-hashed", async () => {
    const t = temp();
    const file = join(t, "f.bin");
    writeFileSync(file, "abc");
    const cache = await SyncCache.open(join(t, "state"));
    const first = await cache.hash(file, 3, 1234);
    expect(first).toBe(hashBytes("abc"));
    // Same (size, mtime) key: the cached value is returned without reading the file.
    writeFileSync(file, "xyz");
    expect(await cache.hash(file, 3, 1234)).toBe(first);
    expect(await cache.hash(file, 3, 5678)).toBe(hashBytes("xyz"));
    await cache.save();
    const reopened = await SyncCache.open(join(t, "state"));
    expect(reopened.cachedHash(file, 3, 5678)).toBe(hashBytes("xyz"));
  });
});

describe("progress", () => {
  it("logs a line every interval when stderr is not a TTY", async () => {
    const lines = new PassThrough();
    let out = "";
    lines.on("data", (d) => (out += d));
    const logger = createLogger({ json: true, stream: lines });
    const stream = Object.assign(new PassThrough(), {
      isTTY: false,
    }) as unknown as NodeJS.WriteStream;
    const p = createProgress("upload", { logger, stream, intervalMs: 20 });
    p.start(1000, 2_000_000_000);
    for (let i = 0; i < 420; i++) p.fileDone();
    p.addBytes(840_000_000);
    await new Promise((r) => setTimeout(r, 80));
    p.stop();
    expect(out).toContain("upload 42% (420 of 1000 files, 840 MB of 2.0 GB)");
  });

  it("draws a bar on a TTY, without colour under NO_COLOR", () => {
    let written = "";
    const stream = {
      isTTY: true,
      write(s: string) {
        written += s;
        return true;
      },
    } as unknown as NodeJS.WriteStream;
    const logger = createLogger({ json: true, stream: new PassThrough() });
    const p = createProgress("download", { logger, stream, env: { NO_COLOR: "1" } });
    p.start(10, 100);
    p.stop();
    expect(written).toContain("download [");
    expect(written).not.toContain("\x1b[36m");
    expect(formatBytes(1_200_000_000)).toBe("1.2 GB");
  });
});

describe("download destination links", () => {
  it("refuses to follow a symlinked folder out of the destination", async () => {
    const t = temp();
    const storage = createFsStorage({ root: join(t, "store") });
    await storage.putBytes("runs/r1/sub/a.txt", "a");
    const dest = join(t, "dest");
    const outside = join(t, "outside");
    mkdirSync(dest);
    mkdirSync(outside);
    symlinkSync(outside, join(dest, "sub"));
    await expect(downloadPrefix(storage, "runs/r1/", dest)).rejects.toThrow('"runs/r1/sub/a.txt"');
    expect(readdirSync(outside)).toEqual([]);
  });
});
