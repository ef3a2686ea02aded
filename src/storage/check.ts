/**
 * Storage checks for `doctor`: endpoint reachable, bucket exists, credentials accepted.
 * One cheap request (a one-key listing) answers all three; which one failed comes from the
 * StorageError's kind, and each failed check says which fix applies.
 */
import { isStorageError } from "./errors.js";
import { FsStorage } from "./fs.js";
import type { Storage } from "./types.js";

export interface StorageCheck {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

export async function checkStorage(
  storage: Storage,
  options: { signal?: AbortSignal } = {},
): Promise<StorageCheck[]> {
  if (storage instanceof FsStorage) {
    try {
      await storage.check(options);
      return [{ name: "storage folder writable", ok: true, detail: storage.location }];
    } catch (error) {
      return [
        {
          name: "storage folder writable",
          ok: false,
          detail: error instanceof Error ? error.message : String(error),
          fix: "set storage.path to a folder you can write, or fix its permissions",
        },
      ];
    }
  }
  const reachable = "storage endpoint reachable";
  const bucket = "storage bucket exists";
  const credentials = "storage credentials accepted";
  try {
    await storage.check(options);
    return [
      { name: reachable, ok: true, detail: storage.location },
      { name: bucket, ok: true, detail: storage.location },
      { name: credentials, ok: true, detail: "a one-key listing succeeded" },
    ];
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const notChecked = (name: string): StorageCheck => ({
      name,
      ok: false,
      detail: "not checked (see above)",
    });
    if (isStorageError(error, "unreachable")) {
      return [
        {
          name: reachable,
          ok: false,
          detail: message,
          fix: "check storage.endpoint and the network",
        },
        notChecked(bucket),
        notChecked(credentials),
      ];
    }
    if (isStorageError(error, "credentials")) {
      return [
        { name: reachable, ok: true, detail: storage.location },
        notChecked(bucket),
        {
          name: credentials,
          ok: false,
          detail: message,
          fix: "set POSEFACTORY_S3_ACCESS_KEY_ID / POSEFACTORY_S3_SECRET_ACCESS_KEY or storage.credentialsFile",
        },
      ];
    }
    if (isStorageError(error, "bucket")) {
      return [
        { name: reachable, ok: true, detail: storage.location },
        {
          name: bucket,
          ok: false,
          detail: message,
          fix: "check storage.bucket, or create the bucket",
        },
        { name: credentials, ok: true, detail: "accepted (the store answered NoSuchBucket)" },
      ];
    }
    if (isStorageError(error, "permission")) {
      return [
        { name: reachable, ok: true, detail: storage.location },
        notChecked(bucket),
        {
          name: credentials,
          ok: false,
          detail: message,
          fix: "give the token read and write access to the bucket",
        },
      ];
    }
    return [
      { name: reachable, ok: false, detail: message },
      notChecked(bucket),
      notChecked(credentials),
    ];
  }
}
