/**
 * A download killed half-way leaves no half file under the final name; the next run
 * completes it and verifies the sha256. A corrupted object is caught by that verification.
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { downloadPrefix } from "../../src/storage/sync.js";
import { type S3rverHandle, startS3rver } from "../helpers/s3rver.js";
import { s3StorageFor } from "../helpers/storage.js";

const CHILD = fileURLToPath(new URL("../helpers/download-child.ts", import.meta.url));
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

let server: S3rverHandle;
let dir: string;
beforeAll(async () => {
  server = await startS3rver({ buckets: ["test-bucket"] });
  dir = mkdtempSync(join(tmpdir(), "pf-kill-"));
});
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function findFiles(root: string, name: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name === name) out.push(join(d, e.name));
    }
  };
  walk(root);
  return out;
}

describe("interrupted download", () => {
  it("kill -9 half-way: no file under the final name; the rerun completes and verifies it", async () => {
    const storage = s3StorageFor(server.endpoint);
    const data = randomBytes(24 * 1024 * 1024);
    await storage.putBytes("runs/r1/big.bin", data);
    const dest = join(dir, "runs", "r1");
    const stateDir = join(dir, ".posefactory");

    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        CHILD,
        server.endpoint,
        "runs/r1/",
        dest,
        stateDir,
        String(8 * 1024 * 1024),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise((resolve) => child.once("exit", resolve));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (d: Buffer) => {
        if (d.toString().includes("HALF")) resolve();
        if (d.toString().includes("DONE"))
          reject(new Error("the child finished before it was killed"));
      });
      child.once("exit", (code) => reject(new Error(`child exited early (${code}): ${stderr}`)));
    });
    child.kill("SIGKILL");
    await exited;

    const final = join(dest, "big.bin");
    expect(existsSync(final)).toBe(false);
    const part = `${final}.part`;
    expect(existsSync(part)).toBe(true);
    expect(statSync(part).size).toBeLessThan(data.length);

    const result = await downloadPrefix(storage, "runs/r1/", dest, { stateDir });
    expect(result.downloaded).toBe(1);
    expect(sha(readFileSync(final))).toBe(sha(data));
    expect(existsSync(part)).toBe(false);
    const again = await downloadPrefix(storage, "runs/r1/", dest, { stateDir });
    expect(again).toMatchObject({ downloaded: 0, skipped: 1 });
  });

  it("an object whose bytes no longer match its x-amz-meta-sha256 is refused, nothing kept", async () => {
    const storage = s3StorageFor(server.endpoint);
    const data = randomBytes(64 * 1024);
    await storage.putBytes("runs/r2/img.png", data);
    // Corrupt the bytes s3rver keeps on disk, same size: only the hash can notice.
    const [stored] = findFiles(server.directory, "img.png._S3rver_object");
    expect(stored).toBeDefined();
    const bad = Buffer.from(data);
    bad[100] = (bad[100]! + 1) % 256;
    writeFileSync(stored!, bad);
    const dest = join(dir, "runs", "r2");
    const error = await downloadPrefix(storage, "runs/r2/", dest).catch((e: Error) => e);
    expect((error as Error).message).toContain("sha256");
    expect(existsSync(join(dest, "img.png"))).toBe(false);
    expect(existsSync(join(dest, "img.png.part"))).toBe(false);
  });
});
