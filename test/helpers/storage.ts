/** Storage fixtures: an S3Storage against a test endpoint, and trees of files to sync. */
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createS3Storage, type S3Storage } from "../../src/storage/s3.js";

export function s3StorageFor(
  endpoint: string,
  options: {
    bucket?: string;
    prefix?: string;
    accessKeyId?: string;
    secretAccessKey?: string;
    partSize?: number;
    /** Default: the part size, so tests exercise multipart with small files. */
    multipartThreshold?: number;
  } = {},
): S3Storage {
  return createS3Storage({
    bucket: options.bucket ?? "test-bucket",
    prefix: options.prefix ?? "",
    endpoint,
    region: "auto",
    forcePathStyle: true,
    // s3rver accepts the access key id S3RVER (any secret).
    credentials: {
      accessKeyId: options.accessKeyId ?? "S3RVER",
      secretAccessKey: options.secretAccessKey ?? "S3RVER",
    },
    partSize: options.partSize ?? 5 * 1024 * 1024,
    multipartThreshold: options.multipartThreshold ?? options.partSize ?? 5 * 1024 * 1024,
    connectTimeoutMs: 2000,
  });
}

/** Write `count` files of 1-50 KB (deterministic sizes) plus big files of `bigBytes` each. */
export function writeTree(
  dir: string,
  options: { count: number; big?: number; bigBytes?: number },
): string[] {
  const files: string[] = [];
  for (let i = 0; i < options.count; i++) {
    const rel = `set${i % 7}/file-${String(i).padStart(4, "0")}.bin`;
    const size = 1024 + ((i * 7919) % (49 * 1024));
    const file = join(dir, rel);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, randomBytes(size));
    files.push(rel);
  }
  for (let i = 0; i < (options.big ?? 0); i++) {
    const rel = `big-${i}.bin`;
    writeFileSync(join(dir, rel), randomBytes(options.bigBytes ?? 20 * 1024 * 1024));
    files.push(rel);
  }
  return files;
}

/** Keys that a URL, XML or a shell gets wrong when escaped carelessly: S3 must round-trip them. */
export const AWKWARD_KEYS = [
  "a & b.txt",
  "<tag> & </tag>.txt",
  `q"uo'te.txt`,
  " leading and trailing spaces ",
  "100% + #hash? =;.txt",
  "Ünïcödé 日本 😀.txt",
  "sub dir/with & amp;/file.txt",
];
