/** S3Storage against a real s3rver: streams, pagination, odd names, small objects. */
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runLimited } from "../../src/storage/sync.js";
import { type S3rverHandle, startS3rver } from "../helpers/s3rver.js";
import { s3StorageFor } from "../helpers/storage.js";

const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

let server: S3rverHandle;
let dir: string;
beforeAll(async () => {
  server = await startS3rver({ buckets: ["test-bucket"] });
  dir = mkdtempSync(join(tmpdir(), "pf-s3-"));
});
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("s3rver helper", () => {
  it("counts requests by method at the server and stop() leaves no process", async () => {
    const extra = await startS3rver({ buckets: ["one"] });
    const storage = s3StorageFor(extra.endpoint, { bucket: "one" });
    await storage.putBytes("a.txt", "hello");
    await storage.head("a.txt");
    expect(await extra.count("PUT")).toBe(1);
    expect(await extra.count("HEAD")).toBe(1);
    await extra.resetRequests();
    expect(await extra.requests()).toEqual([]);
    storage.destroy();
    const pid = extra.process.pid!;
    await extra.stop();
    expect(() => process.kill(pid, 0)).toThrow();
  });
});

describe("S3Storage on s3rver", () => {
  const storage = () => s3StorageFor(server.endpoint);

  it("a streamed upload (single and multipart) byte-compares equal after download", async () => {
    const s = storage();
    for (const size of [300 * 1024, 12 * 1024 * 1024 + 17]) {
      const data = randomBytes(size);
      // Uneven chunks, as a real stream gives them.
      const chunks = [data.subarray(0, 1000), data.subarray(1000, 70_000), data.subarray(70_000)];
      const key = `stream/${size}.bin`;
      await server.resetRequests();
      await s.putStream(key, Readable.from(chunks), size, { sha256: sha(data) });
      const out = join(dir, `${size}.out`);
      const info = await s.getFile(key, out);
      expect(readFileSync(out).equals(data)).toBe(true);
      expect(info.sha256).toBe(sha(data));
      expect((await s.head(key))?.sha256).toBe(sha(data));
      // Multipart: every part but the last has the same size (R2 requires it).
      const parts = (await server.requests()).filter(
        (r) => r.method === "PUT" && r.path.includes("partNumber="),
      );
      if (size > 5 * 1024 * 1024) {
        expect(parts.length).toBe(3);
        expect(new Set(parts.slice(0, -1).map((p) => p.contentLength))).toEqual(
          new Set([5 * 1024 * 1024]),
        );
      } else {
        expect(parts.length).toBe(0);
      }
    }
  });

  it("lists 1,200 objects across pages", async () => {
    const s = storage();
    const keys = Array.from({ length: 1200 }, (_, i) => `many/k${String(i).padStart(5, "0")}`);
    await runLimited(keys, 8, async (key) => {
      await s.putBytes(key, key);
    });
    await server.resetRequests();
    const listed: string[] = [];
    for await (const o of s.list("many/")) listed.push(o.key);
    expect(listed).toEqual(keys);
    const lists = (await server.requests()).filter(
      (r) => r.method === "GET" && r.path.includes("list-type=2"),
    );
    expect(lists.length).toBe(2);
  });

  it("names with spaces, quotes, $ and non-ASCII round-trip exactly", async () => {
    const s = storage();
    const names = [
      "a b.txt",
      `q"uo'te.txt`,
      "$HOME and $(x).txt",
      "Ünïcödé 日本 😀.txt",
      "100% + #hash?.txt",
    ];
    for (const name of names) {
      const file = join(dir, `src-${sha(name).slice(0, 8)}`);
      writeFileSync(file, `content of ${name}`);
      await s.putFile(`odd/${name}`, file, { sha256: sha(`content of ${name}`) });
    }
    const listed: string[] = [];
    for await (const o of s.list("odd/")) listed.push(o.key.slice(4));
    expect(listed.sort()).toEqual([...names].sort());
    for (const name of names) {
      expect((await s.getBytes(`odd/${name}`))?.toString()).toBe(`content of ${name}`);
    }
  });

  it("puts and gets small objects; a missing key is undefined; listChildren gives folder names", async () => {
    const s = storage();
    await s.putBytes("runs/20261125-083012-a1b2c3/job.json", '{"version":1}', {
      contentType: "application/json",
    });
    await s.putBytes("runs/20261126-090000-ffffff/status.json", "{}");
    expect((await s.getBytes("runs/20261125-083012-a1b2c3/job.json"))?.toString()).toBe(
      '{"version":1}',
    );
    expect(await s.getBytes("runs/nope/job.json")).toBeUndefined();
    expect(await s.head("runs/nope/job.json")).toBeUndefined();
    expect((await s.listChildren("runs/")).sort()).toEqual([
      "20261125-083012-a1b2c3",
      "20261126-090000-ffffff",
    ]);
    await s.delete("runs/20261126-090000-ffffff/status.json");
    expect(await s.listChildren("runs/")).toEqual(["20261125-083012-a1b2c3"]);
  });
});
