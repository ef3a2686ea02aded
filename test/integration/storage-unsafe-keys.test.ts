/**
 * Keys that would escape the destination are refused before anything is written. s3rver
 * normalises `a/../b` on the way in, so the `../escape.txt` listing comes from the fake
 * endpoint (S3 and R2 store such keys verbatim); the backslash trick goes through s3rver.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { downloadPrefix } from "../../src/storage/sync.js";
import { type FakeS3, startFakeS3 } from "../helpers/fake-s3.js";
import { type S3rverHandle, startS3rver } from "../helpers/s3rver.js";
import { s3StorageFor } from "../helpers/storage.js";

let server: S3rverHandle;
let fake: FakeS3;
const temps: string[] = [];
beforeAll(async () => {
  server = await startS3rver({ buckets: ["test-bucket"] });
  fake = await startFakeS3({
    keys: [
      { key: "runs/r1/a.json", size: 2 },
      { key: "runs/r1/../escape.txt", size: 4 },
    ],
  });
});
afterAll(async () => {
  await server?.stop();
  await fake?.stop();
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

function dest() {
  const parent = mkdtempSync(join(tmpdir(), "pf-unsafe-"));
  temps.push(parent);
  const root = join(parent, "data");
  mkdirSync(root);
  return { parent, root, run: join(root, "runs", "r1") };
}

describe("unsafe keys", () => {
  it("a planted ../escape.txt is refused with the key named; nothing is written", async () => {
    const d = dest();
    const error = await downloadPrefix(s3StorageFor(fake.endpoint), "runs/r1/", d.run).catch(
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain('"runs/r1/../escape.txt"');
    expect(existsSync(join(d.root, "runs", "escape.txt"))).toBe(false);
    expect(existsSync(d.run)).toBe(false);
    expect(readdirSync(d.parent).sort()).toEqual(["data"]);
    // The plan failed before any GET.
    expect(fake.requests.every((r) => r.method === "GET" && r.path.includes("list-type=2"))).toBe(
      true,
    );
  });

  it("a backslash key stored in s3rver is refused too", async () => {
    const storage = s3StorageFor(server.endpoint);
    await storage.putBytes("runs/r2/ok.txt", "ok");
    await storage.putBytes("runs/r2/..\\..\\escape.txt", "evil");
    const d = dest();
    const run = join(d.root, "runs", "r2");
    const error = await downloadPrefix(storage, "runs/r2/", run).catch((e: Error) => e);
    expect((error as Error).message).toContain("runs/r2/..\\\\..\\\\escape.txt");
    expect(existsSync(run)).toBe(false);
    expect(readdirSync(d.parent).sort()).toEqual(["data"]);
  });
});
