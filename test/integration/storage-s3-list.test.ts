/**
 * The SDK-free listing and HEAD of S3Storage (s3-request.ts + s3-xml.ts) against a real
 * s3rver: paging with a small max-keys, keys that need XML entities and URL encoding,
 * prefixes, HEAD, the same errors as before for a wrong key id and a missing bucket; and the
 * bundled CLI's no-change upload as a process never loads the AWS SDK.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isAbortError } from "../../src/errors.js";
import { isStorageError } from "../../src/storage/errors.js";
import { createS3Storage } from "../../src/storage/s3.js";
import { BIN, cleanEnv, makeTempDir, runBinLoggingModules } from "../helpers/cli.js";
import { type S3rverHandle, startS3rver } from "../helpers/s3rver.js";
import { AWKWARD_KEYS, s3StorageFor } from "../helpers/storage.js";

const sha = (b: string) => createHash("sha256").update(b).digest("hex");

let server: S3rverHandle;
const temps: { cleanup: () => void }[] = [];
beforeAll(async () => {
  server = await startS3rver({ buckets: ["test-bucket"] });
});
afterAll(async () => {
  await server?.stop();
  for (const t of temps) t.cleanup();
});

async function keysOf(iterable: AsyncIterable<{ key: string }>): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of iterable) keys.push(o.key);
  return keys;
}

describe("S3Storage listing without the SDK", () => {
  it("pages through 23 keys five at a time, in order, one LIST per page", async () => {
    const s = s3StorageFor(server.endpoint);
    const names = Array.from({ length: 23 }, (_, i) => `paged/k${String(i).padStart(2, "0")}`);
    for (const name of names) await s.putBytes(name, name);
    await server.resetRequests();
    expect(await keysOf(s.list("paged/", { pageSize: 5 }))).toEqual(names);
    const lists = (await server.requests()).filter((r) => r.path.includes("list-type=2"));
    expect(lists.length).toBe(5);
    expect(lists.slice(1).every((r) => r.path.includes("continuation-token="))).toBe(true);
    // Folders through the delimiter, across pages too.
    for (const run of ["r1", "r2", "r3"]) await s.putBytes(`folders/${run}/job.json`, "{}");
    expect(await s.listChildren("folders/", { pageSize: 2 })).toEqual(["r1", "r2", "r3"]);
    s.destroy();
  });

  it("keys with & < > ' \" spaces and non-ASCII come back exactly, with size, ETag and date", async () => {
    const s = s3StorageFor(server.endpoint);
    const names = AWKWARD_KEYS;
    const etags = new Map<string, string | undefined>();
    for (const name of names) {
      const put = await s.putBytes(`odd/${name}`, `content of ${name}`);
      etags.set(`odd/${name}`, put.etag);
    }
    const listed = [];
    for await (const o of s.list("odd/")) listed.push(o);
    expect(listed.map((o) => o.key).sort()).toEqual(names.map((n) => `odd/${n}`).sort());
    for (const o of listed) {
      expect(o.size).toBe(Buffer.byteLength(`content of ${o.key.slice(4)}`));
      expect(o.etag).toBe(etags.get(o.key));
      expect(o.lastModified).toBeInstanceOf(Date);
      expect(Number.isNaN(o.lastModified!.getTime())).toBe(false);
    }
    // A prefix with the same characters selects exactly its keys.
    expect(await keysOf(s.list("odd/sub dir/with & amp;/"))).toEqual([
      "odd/sub dir/with & amp;/file.txt",
    ]);
    for (const folder of ["a & b", "c <d>", "é 😀"]) await s.putBytes(`kids/${folder}/x`, "x");
    expect(await s.listChildren("kids/")).toEqual(["a & b", "c <d>", "é 😀"]);
    s.destroy();
  });

  it("a prefix is a prefix: p/a/ does not list p/ab/; an empty prefix lists nothing else", async () => {
    const s = s3StorageFor(server.endpoint);
    await s.putBytes("pfx/a/1", "1");
    await s.putBytes("pfx/ab/2", "2");
    expect(await keysOf(s.list("pfx/a/"))).toEqual(["pfx/a/1"]);
    expect(await keysOf(s.list("pfx/"))).toEqual(["pfx/a/1", "pfx/ab/2"]);
    expect(await keysOf(s.list("pfx/none/"))).toEqual([]);
    s.destroy();
  });

  it("HEAD reads size, sha256, ETag and date; a missing key is undefined", async () => {
    const s = s3StorageFor(server.endpoint);
    const put = await s.putBytes("head/ü & x.txt", "twelve bytes");
    const head = await s.head("head/ü & x.txt");
    expect(head).toMatchObject({
      key: "head/ü & x.txt",
      size: 12,
      sha256: sha("twelve bytes"),
      etag: put.etag,
    });
    expect(head?.lastModified).toBeInstanceOf(Date);
    expect(await s.head("head/missing.txt")).toBeUndefined();
    s.destroy();
  });

  it("a wrong key id and a missing bucket give the same StorageErrors as before", async () => {
    const wrongKey = s3StorageFor(server.endpoint, { accessKeyId: "NOT-A-KEY" });
    const listError = await keysOf(wrongKey.list("x/")).catch((e: unknown) => e);
    expect(isStorageError(listError, "credentials")).toBe(true);
    expect((listError as Error).message).toContain("does not know the access key id");
    expect(isStorageError(await wrongKey.check().catch((e: unknown) => e), "credentials")).toBe(
      true,
    );
    // HEAD answers carry no body: a 403 is all the store says.
    expect(isStorageError(await wrongKey.head("x").catch((e: unknown) => e), "permission")).toBe(
      true,
    );

    const noBucket = s3StorageFor(server.endpoint, { bucket: "no-such-bucket" });
    const missing = await keysOf(noBucket.list("x/")).catch((e: unknown) => e);
    expect(isStorageError(missing, "bucket")).toBe(true);
    expect((missing as Error).message).toContain("Bucket `no-such-bucket` not found");
    expect(
      isStorageError(await noBucket.listChildren("x/").catch((e: unknown) => e), "bucket"),
    ).toBe(true);
    wrongKey.destroy();
    noBucket.destroy();
  });
});

describe("a store that accepts the connection and never answers", () => {
  async function silentServer(): Promise<{ endpoint: string; stop: () => Promise<void> }> {
    const sockets: Socket[] = [];
    const server: Server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    return {
      endpoint: `http://127.0.0.1:${port}`,
      stop: async () => {
        for (const socket of sockets) socket.destroy();
        await new Promise((resolve) => server.close(resolve));
      },
    };
  }
  const storageAt = (endpoint: string) =>
    createS3Storage({
      bucket: "test-bucket",
      prefix: "",
      endpoint,
      region: "auto",
      forcePathStyle: true,
      credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
      idleTimeoutMs: 200,
      attempts: 2,
    });

  it("times out (retried, then 'cannot reach ... timed out')", async () => {
    const silent = await silentServer();
    try {
      const s = storageAt(silent.endpoint);
      const error = await keysOf(s.list("x/")).catch((e: unknown) => e);
      expect(isStorageError(error, "unreachable")).toBe(true);
      expect((error as Error).message).toContain("timed out");
      s.destroy();
    } finally {
      await silent.stop();
    }
  });

  it("an abort ends the request at once with an AbortError, not a storage error", async () => {
    const silent = await silentServer();
    try {
      const s = storageAt(silent.endpoint);
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      const error = await s.head("x", { signal: controller.signal }).catch((e: unknown) => e);
      expect(isAbortError(error)).toBe(true);
      s.destroy();
    } finally {
      await silent.stop();
    }
  });
});

describe("the CLI's no-change upload as a process", () => {
  it("loads no AWS SDK module: not for a first upload, a no-change one or a changed file (single PUTs)", () => {
    const t = makeTempDir();
    temps.push(t);
    mkdirSync(join(t.dir, "characters"));
    writeFileSync(join(t.dir, "characters", "a.fbx"), "one");
    writeFileSync(
      join(t.dir, "posefactory.yaml"),
      `target: s\ntargets:\n  s:\n    executor: local\n    storage:\n      type: s3\n      endpoint: ${server.endpoint}\n      bucket: test-bucket\n      prefix: nochange/\n`,
    );
    const log = join(t.dir, "modules.log");
    const env = cleanEnv(
      {
        POSEFACTORY_S3_ACCESS_KEY_ID: "S3RVER",
        POSEFACTORY_S3_SECRET_ACCESS_KEY: "S3RVER",
      },
      t.home,
    );
    const upload = () => runBinLoggingModules(["upload", "--json", "-q"], { cwd: t.dir, env, log });
    const first = upload();
    expect(first.summary.uploaded).toBeGreaterThan(0);
    expect(first.sdk).toEqual([]);
    const again = upload();
    expect(again.summary.uploaded).toBe(0);
    expect(again.loaded.some((url) => url.endsWith("/cli.js"))).toBe(true);
    expect(again.sdk).toEqual([]);
    writeFileSync(join(t.dir, "characters", "a.fbx"), "two");
    const changed = upload();
    expect(changed.summary.uploaded).toBe(1);
    expect(changed.sdk).toEqual([]);
    // what was stored is what the next run finds: nothing left to send
    expect(upload().summary.uploaded).toBe(0);
  });

  it("uploads a file at the multipart threshold (the SDK's lib-storage, loaded from the bundle)", async () => {
    const t = makeTempDir();
    temps.push(t);
    mkdirSync(join(t.dir, "characters"));
    // 100 MiB: the default threshold from which files go multipart.
    writeFileSync(join(t.dir, "characters", "big.bin"), Buffer.alloc(100 * 1024 * 1024, 7));
    writeFileSync(
      join(t.dir, "posefactory.yaml"),
      `target: s\ntargets:\n  s:\n    executor: local\n    storage:\n      type: s3\n      endpoint: ${server.endpoint}\n      bucket: test-bucket\n      prefix: multipart/\n`,
    );
    const env = cleanEnv(
      { POSEFACTORY_S3_ACCESS_KEY_ID: "S3RVER", POSEFACTORY_S3_SECRET_ACCESS_KEY: "S3RVER" },
      t.home,
    );
    await server.resetRequests();
    const result = spawnSync(process.execPath, [BIN, "upload", "--json", "-q"], {
      cwd: t.dir,
      env,
      encoding: "utf8",
    });
    expect(result.status, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).uploaded).toBeGreaterThan(0);
    const requests = await server.requests();
    expect(requests.some((r) => r.method === "POST" && r.path.includes("uploads"))).toBe(true);
    const s = s3StorageFor(server.endpoint);
    expect((await s.head("multipart/inputs/characters/big.bin"))?.size).toBe(100 * 1024 * 1024);
    s.destroy();
    rmSync(join(t.dir, "characters", "big.bin"));
  });
});
