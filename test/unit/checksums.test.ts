/** verifyChecksums with hashes known from the download: those files are not read again. */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { verifyChecksums } from "../../src/storage/checksums.js";

const sha = (b: string) => createHash("sha256").update(b).digest("hex");
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("verifyChecksums with known hashes", () => {
  it("compares a known hash without reading the file; hashes the others", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pf-sums-known-"));
    dirs.push(dir);
    writeFileSync(join(dir, "a.png"), "aaa");
    writeFileSync(join(dir, "b.png"), "bbb");
    writeFileSync(join(dir, "sha256sums.txt"), `${sha("aaa")}  a.png\n${sha("bbb")}  ./b.png\n`);
    expect(await verifyChecksums(dir)).toBe(2);
    // a.png's bytes were hashed as they were written: it need not even be there any more.
    rmSync(join(dir, "a.png"));
    expect(await verifyChecksums(dir, undefined, new Map([[join(dir, "a.png"), sha("aaa")]]))).toBe(
      2,
    );
    // A known hash that differs from the host's is a mismatch.
    await expect(
      verifyChecksums(dir, undefined, new Map([[join(dir, "a.png"), sha("other")]])),
    ).rejects.toThrow(/1 downloaded file\(s\) .* do not match .*: a\.png/);
    // A file not downloaded now is read and hashed as before.
    writeFileSync(join(dir, "b.png"), "tampered");
    await expect(
      verifyChecksums(dir, undefined, new Map([[join(dir, "a.png"), sha("aaa")]])),
    ).rejects.toThrow(/do not match .*: b\.png/);
  });
});
