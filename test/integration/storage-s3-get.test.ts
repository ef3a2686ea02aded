/**
 * Downloads without the SDK (S3Requests.stream + getFile/getBytes) against a real s3rver:
 * binary content byte for byte, a corrupt object, a missing key and the other errors read
 * exactly as the SDK's GetObject gave them, an abort mid-body, awkward keys; and the bundled
 * CLI's `download` as a process loads no AWS SDK code.
 */
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { Readable } from "node:stream";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isAbortError } from "../../src/errors.js";
import { isStorageError } from "../../src/storage/errors.js";
import { createS3Storage } from "../../src/storage/s3.js";
import { BIN, cleanEnv, makeTempDir, runBinLoggingModules } from "../helpers/cli.js";
import { type S3rverHandle, startS3rver } from "../helpers/s3rver.js";
import { AWKWARD_KEYS, s3StorageFor } from "../helpers/storage.js";

const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

let server: S3rverHandle;
let temp: ReturnType<typeof makeTempDir>;
beforeAll(async () => {
  server = await startS3rver({ buckets: ["test-bucket"] });
  temp = makeTempDir("pf-s3-get-");
});
afterAll(async () => {
  await server?.stop();
  temp?.cleanup();
});

/** What the SDK's GetObject threw for the same request (the behaviour to keep). */
async function sdkGetError(options: {
  bucket?: string;
  key: string;
  accessKeyId?: string;
}): Promise<unknown> {
  const client = new S3Client({
    region: "auto",
    endpoint: server.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: options.accessKeyId ?? "S3RVER", secretAccessKey: "S3RVER" },
    maxAttempts: 1,
  });
  try {
    await client.send(
      new GetObjectCommand({ Bucket: options.bucket ?? "test-bucket", Key: options.key }),
    );
    throw new Error("GetObject succeeded");
  } catch (error) {
    return error;
  } finally {
    client.destroy();
  }
}

/** The files left in a folder (a .part would show here). */
const leftIn = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);

describe("S3Storage downloads without the SDK", () => {
  it("every byte value and a 5 MB random file come back byte for byte (getFile, getBytes)", async () => {
    const s = s3StorageFor(server.endpoint);
    const everyByte = Buffer.from(Array.from({ length: 256 * 4 }, (_, i) => i % 256));
    const big = randomBytes(5 * 1000 * 1000 + 3);
    for (const [name, data] of [
      ["bytes.bin", everyByte],
      ["big.bin", big],
    ] as const) {
      const key = `binary/${name}`;
      await s.putStream(key, Readable.from([data]), data.byteLength, { sha256: sha(data) });
      const out = join(temp.dir, "binary", name);
      let progress = 0;
      const info = await s.getFile(key, out, { onProgress: (n) => (progress = n) });
      expect(readFileSync(out).equals(data)).toBe(true);
      expect(info).toMatchObject({ key, size: data.byteLength, sha256: sha(data) });
      expect(info.etag).toBe((await s.head(key))?.etag);
      expect(info.lastModified).toBeInstanceOf(Date);
      expect(progress).toBe(data.byteLength);
      expect((await s.getBytes(key))?.equals(data)).toBe(true);
    }
    expect(leftIn(join(temp.dir, "binary")).sort()).toEqual(["big.bin", "bytes.bin"]);
    s.destroy();
  });

  it("a corrupt object (sha256 metadata differs) is an integrity error; nothing is left", async () => {
    const s = s3StorageFor(server.endpoint);
    const data = Buffer.from("these bytes do not match their metadata");
    await s.putStream("corrupt/a.bin", Readable.from([data]), data.byteLength, {
      sha256: sha("something else"),
    });
    await server.resetRequests();
    const dir = join(temp.dir, "corrupt");
    const error = await s.getFile("corrupt/a.bin", join(dir, "a.bin")).catch((e: unknown) => e);
    expect(isStorageError(error, "integrity")).toBe(true);
    expect((error as Error).message).toBe(
      `Downloaded corrupt/a.bin but its sha256 ${sha(data)} differs from the ${sha("something else")} stored with it: the object is corrupt in storage or changed during the download; run the command again.`,
    );
    // Not retried: the store answered what it holds.
    expect(await server.count("GET")).toBe(1);
    expect(leftIn(dir)).toEqual([]);
    s.destroy();
  });

  it("a missing key, a wrong key id and a missing bucket read as the SDK's GetObject did", async () => {
    const s = s3StorageFor(server.endpoint);
    const dir = join(temp.dir, "errors");
    const missing = await s.getFile("nope/a.bin", join(dir, "a.bin")).catch((e: unknown) => e);
    const sdkMissing = s.translate(await sdkGetError({ key: "nope/a.bin" }), "GET nope/a.bin");
    expect(isStorageError(missing, "transfer")).toBe(true);
    expect((missing as Error).message).toBe((sdkMissing as Error).message);
    expect((missing as Error).message).toContain("NoSuchKey (HTTP 404)");
    expect(await s.getBytes("nope/a.bin")).toBeUndefined();

    const cases = [
      { kind: "credentials", options: { accessKeyId: "NOT-A-KEY" } },
      { kind: "bucket", options: { bucket: "no-such-bucket" } },
    ] as const;
    const stores = cases.map(({ options }) => s3StorageFor(server.endpoint, options));
    for (const [n, { kind, options }] of cases.entries()) {
      const store = stores[n]!;
      for (const get of [
        () => store.getFile("x.bin", join(dir, "x.bin")),
        () => store.getBytes("x.bin"),
      ]) {
        const error = await get().catch((e: unknown) => e);
        const sdk = store.translate(await sdkGetError({ key: "x.bin", ...options }), "GET x.bin");
        expect(isStorageError(error, kind)).toBe(true);
        expect((error as Error).message).toBe((sdk as Error).message);
      }
    }
    expect(leftIn(dir)).toEqual([]);
    for (const x of [s, ...stores]) x.destroy();
  });

  it("an abort mid-download rejects with an AbortError and leaves no file and no .part", async () => {
    const s = s3StorageFor(server.endpoint);
    const data = randomBytes(5 * 1000 * 1000);
    await s.putStream("abort/big.bin", Readable.from([data]), data.byteLength, {
      sha256: sha(data),
    });
    const dir = join(temp.dir, "abort");
    const controller = new AbortController();
    let seen = 0;
    const error = await s
      .getFile("abort/big.bin", join(dir, "big.bin"), {
        signal: controller.signal,
        onProgress: (n) => {
          seen = n;
          controller.abort();
        },
      })
      .catch((e: unknown) => e);
    expect(isAbortError(error)).toBe(true);
    expect(seen).toBeGreaterThan(0);
    expect(seen).toBeLessThan(data.byteLength);
    expect(leftIn(dir)).toEqual([]);
    // The storage still works after the aborted request (its socket was dropped, not reused).
    expect((await s.getBytes("abort/big.bin"))?.equals(data)).toBe(true);
    s.destroy();
  });

  it("keys with spaces, & < > quotes, % + # ? and non-ASCII download exactly", async () => {
    const s = s3StorageFor(server.endpoint);
    const names = AWKWARD_KEYS;
    for (const [i, name] of names.entries()) {
      const key = `odd-get/${name}`;
      await s.putBytes(key, `content of ${name}`);
      const out = join(temp.dir, "odd", String(i));
      const info = await s.getFile(key, out);
      expect(readFileSync(out, "utf8")).toBe(`content of ${name}`);
      expect(info.sha256).toBe(sha(`content of ${name}`));
      expect((await s.getBytes(key))?.toString()).toBe(`content of ${name}`);
    }
    s.destroy();
  });
});

describe("a store that stops sending mid-body", () => {
  it("times out (retried, then 'cannot reach ... timed out') and leaves no .part", async () => {
    let gets = 0;
    const stalling = createServer((_req, res) => {
      gets++;
      res.writeHead(200, { "content-length": "1000" });
      res.write("ten bytes!");
    });
    await new Promise<void>((resolve) => stalling.listen(0, "127.0.0.1", resolve));
    const { port } = stalling.address() as { port: number };
    try {
      const s = createS3Storage({
        bucket: "test-bucket",
        prefix: "",
        endpoint: `http://127.0.0.1:${port}`,
        region: "auto",
        forcePathStyle: true,
        credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
        idleTimeoutMs: 200,
        attempts: 2,
      });
      const dir = join(temp.dir, "stall");
      const error = await s.getFile("a.bin", join(dir, "a.bin")).catch((e: unknown) => e);
      expect(isStorageError(error, "unreachable")).toBe(true);
      expect((error as Error).message).toContain("timed out");
      expect(gets).toBe(2);
      expect(leftIn(dir)).toEqual([]);
      s.destroy();
    } finally {
      stalling.closeAllConnections();
      await new Promise((resolve) => stalling.close(resolve));
    }
  });
});

describe("the CLI's download as a process", () => {
  it("loads no AWS SDK module and writes the run's files", async () => {
    const t = makeTempDir();
    try {
      const runId = "20261125-083012-a1b2c3";
      const s = s3StorageFor(server.endpoint, { prefix: "dl/" });
      const files = {
        "renders/bob/cam_000.png": randomBytes(3000),
        "annotations/bob.json": Buffer.from('{"ok": true}'),
        "report/ü & x.txt": Buffer.from("report"),
      };
      for (const [rel, data] of Object.entries(files))
        await s.putBytes(`dl/runs/${runId}/${rel}`, data);
      // As the render host writes it: the download is checked against it.
      const sums = Object.entries(files)
        .map(([rel, data]) => `${sha(data)}  ${rel}\n`)
        .join("");
      await s.putBytes(`dl/runs/${runId}/sha256sums.txt`, sums);
      // A run whose sums do not match what was pushed: the download says so.
      await s.putBytes(`dl/runs/20261125-083012-bad000/a.png`, "pushed");
      await s.putBytes(
        `dl/runs/20261125-083012-bad000/sha256sums.txt`,
        `${sha("rendered")}  a.png\n`,
      );
      s.destroy();
      writeFileSync(
        join(t.dir, "posefactory.yaml"),
        `target: s\ntargets:\n  s:\n    executor: local\n    storage:\n      type: s3\n      endpoint: ${server.endpoint}\n      bucket: test-bucket\n      prefix: dl/\n`,
      );
      mkdirSync(join(t.dir, "characters"));
      const log = join(t.dir, "modules.log");
      const env = cleanEnv(
        {
          POSEFACTORY_S3_ACCESS_KEY_ID: "S3RVER",
          POSEFACTORY_S3_SECRET_ACCESS_KEY: "S3RVER",
        },
        t.home,
      );
      const download = () =>
        runBinLoggingModules(["download", runId, "--json", "-q"], { cwd: t.dir, env, log });
      const first = download();
      expect(first.summary.downloaded).toBe(4);
      expect(first.summary.verified).toBe(3);
      expect(first.loaded.some((url) => url.endsWith("/cli.js"))).toBe(true);
      expect(first.sdk).toEqual([]);
      for (const [rel, data] of Object.entries(files))
        expect(readFileSync(join(t.dir, "data", "runs", runId, rel)).equals(data)).toBe(true);
      const again = download();
      expect(again.summary.downloaded).toBe(0);
      expect(again.summary.verified).toBe(3);
      expect(again.sdk).toEqual([]);
      const bad = spawnSync(process.execPath, [BIN, "download", "20261125-083012-bad000", "-q"], {
        cwd: t.dir,
        env,
        encoding: "utf8",
      });
      expect(bad.status).toBe(1);
      expect(bad.stderr).toContain("do not match the render host's sha256sums.txt: a.png");
    } finally {
      t.cleanup();
    }
  });
});
