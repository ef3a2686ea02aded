/**
 * Wrong key id, wrong secret, missing bucket, dead endpoint: each its own clear message and
 * exit code, quickly. s3rver checks the key id but not the secret, so the wrong-secret case
 * uses the fake endpoint answering S3's documented 403 SignatureDoesNotMatch.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkStorage } from "../../src/storage/check.js";
import { isStorageError } from "../../src/storage/errors.js";
import { cleanEnv, makeTempDir, runCli } from "../helpers/cli.js";
import { deadPort, type FakeS3, startFakeS3 } from "../helpers/fake-s3.js";
import { type S3rverHandle, startS3rver } from "../helpers/s3rver.js";
import { s3StorageFor } from "../helpers/storage.js";

let server: S3rverHandle;
let fake: FakeS3;
const temps: { cleanup: () => void }[] = [];
beforeAll(async () => {
  server = await startS3rver({ buckets: ["test-bucket"] });
  fake = await startFakeS3({
    error: {
      status: 403,
      code: "SignatureDoesNotMatch",
      message:
        "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    },
  });
});
afterAll(async () => {
  await server?.stop();
  await fake?.stop();
  for (const t of temps) t.cleanup();
});

async function upload(endpoint: string, bucket: string, keyId = "S3RVER") {
  const t = makeTempDir();
  temps.push(t);
  mkdirSync(join(t.dir, "characters"));
  writeFileSync(join(t.dir, "characters", "a.fbx"), "x");
  writeFileSync(
    join(t.dir, "posefactory.yaml"),
    `target: s\ntargets:\n  s:\n    executor: local\n    storage:\n      type: s3\n      endpoint: ${endpoint}\n      bucket: ${bucket}\n`,
  );
  const env = cleanEnv(
    {
      POSEFACTORY_S3_ACCESS_KEY_ID: keyId,
      POSEFACTORY_S3_SECRET_ACCESS_KEY: "not-the-right-secret",
    },
    t.home,
  );
  return runCli(["upload"], { cwd: t.dir, env });
}

describe("storage errors", () => {
  it("wrong secret: SignatureDoesNotMatch names the secret, exit 2", async () => {
    const result = await upload(fake.endpoint, "test-bucket");
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("rejected the secret access key");
    expect(result.stderr).toContain("POSEFACTORY_S3_SECRET_ACCESS_KEY");
    expect(result.stderr).not.toContain("not-the-right-secret");
  });

  it("unknown access key id: InvalidAccessKeyId, exit 2", async () => {
    const result = await upload(server.endpoint, "test-bucket", "NOT-A-KEY");
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("does not know the access key id");
  });

  it("missing bucket: names the bucket and storage.bucket, exit 2", async () => {
    const result = await upload(server.endpoint, "no-such-bucket");
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("Bucket `no-such-bucket` not found");
    expect(result.stderr).toContain("storage.bucket");
  });

  it("dead endpoint: cannot reach, exit 1", async () => {
    const result = await upload(`http://127.0.0.1:${await deadPort()}`, "test-bucket");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("Cannot reach storage endpoint");
    expect(result.stderr).toContain("ECONNREFUSED");
  });

  it("the three messages differ, and checkStorage reports which check failed", async () => {
    const port = await deadPort();
    const cases = [
      {
        storage: s3StorageFor(fake.endpoint),
        failed: "storage credentials accepted",
        kind: "credentials",
      },
      {
        storage: s3StorageFor(server.endpoint, { bucket: "no-such-bucket" }),
        failed: "storage bucket exists",
        kind: "bucket",
      },
      {
        storage: s3StorageFor(`http://127.0.0.1:${port}`),
        failed: "storage endpoint reachable",
        kind: "unreachable",
      },
    ];
    const messages = new Set<string>();
    for (const c of cases) {
      const checks = await checkStorage(c.storage);
      const failed = checks.find((x) => !x.ok && x.fix);
      expect(failed?.name).toBe(c.failed);
      messages.add(failed!.detail);
      const error = await c.storage.check().catch((e: unknown) => e);
      expect(isStorageError(error, c.kind as never)).toBe(true);
    }
    expect(messages.size).toBe(3);
    const ok = await checkStorage(s3StorageFor(server.endpoint));
    expect(ok.every((c) => c.ok)).toBe(true);
  });
});

describe("transient errors", () => {
  it("a 503 SlowDown is retried with backoff and the listing succeeds", async () => {
    const flaky = await startFakeS3({ failFirst: 2, keys: [{ key: "a/b.txt", size: 3 }] });
    try {
      const keys: string[] = [];
      for await (const o of s3StorageFor(flaky.endpoint).list("a/")) keys.push(o.key);
      expect(keys).toEqual(["a/b.txt"]);
      expect(flaky.requests.length).toBe(3);
    } finally {
      await flaky.stop();
    }
  });
});
