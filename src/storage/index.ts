/**
 * The storage module's front door.
 *
 *   const storage = await createStorage(target.storage, { baseDir, logger });
 *   await storage.putBytes(joinKey(storage.prefix, "runs", id, "job.json"), json);
 *   await uploadDir(storage, dir, joinKey(storage.prefix, "inputs", "characters") + "/", opts);
 *   const checks = await checkStorage(storage);   // for doctor
 *
 * Only this folder imports @aws-sdk/*.
 */
import { loadS3Credentials, resolveUserPath } from "../config/credentials.js";
import type { StorageConfig } from "../config/schema.js";
import type { Logger } from "../log.js";
import { createFsStorage } from "./fs.js";
import type { Storage } from "./types.js";

export interface CreateStorageOptions {
  /** Folder relative paths in the config are resolved against. */
  baseDir: string;
  env?: NodeJS.ProcessEnv;
  logger: Logger;
  /** Multipart part size in MiB (config sync.partSizeMb, default 16). */
  partSizeMb?: number;
  home?: string;
}

export async function createStorage(
  storage: StorageConfig,
  options: CreateStorageOptions,
): Promise<Storage> {
  if (storage.type === "fs") {
    return createFsStorage({
      root: resolveUserPath(storage.path, options.baseDir, options.home),
      prefix: storage.prefix,
    });
  }
  // The AWS SDK takes ~0.4 s to load: only when S3 is actually used.
  const { createS3Storage } = await import("./s3.js");
  const credentials = loadS3Credentials(storage, {
    baseDir: options.baseDir,
    env: options.env,
    home: options.home,
  });
  return createS3Storage({
    bucket: storage.bucket,
    prefix: storage.prefix,
    endpoint: storage.endpoint,
    region: storage.region,
    forcePathStyle: storage.forcePathStyle,
    credentials: {
      accessKeyId: credentials.accessKeyId,
      secretAccessKey: credentials.secretAccessKey,
      sessionToken: credentials.sessionToken,
    },
    credentialsSource: credentials.source,
    partSize: (options.partSizeMb ?? 16) * 1024 * 1024,
    logger: options.logger,
  });
}

export { checkStorage, type StorageCheck } from "./check.js";
export { isStorageError, StorageError, type StorageErrorKind } from "./errors.js";
export { createFsStorage, FsStorage } from "./fs.js";
export { hashBytes, hashFile, SyncCache } from "./hash.js";
export { explainUnsafeKey, localPathForKey } from "./keys.js";
export { createProgress, type ProgressReporter, silentProgress } from "./progress.js";
// S3Storage itself: import from "./s3.js" (kept out of here so the SDK loads lazily).
export type { S3Storage, S3StorageOptions } from "./s3.js";
export {
  type DownloadPlan,
  type DownloadSummary,
  downloadPrefix,
  executeDownload,
  executeUpload,
  planDownload,
  planUpload,
  type UploadPlan,
  type UploadSummary,
  uploadDir,
} from "./sync.js";
export {
  joinKey,
  type ObjectInfo,
  type PutOptions,
  type PutResult,
  type Storage,
} from "./types.js";
