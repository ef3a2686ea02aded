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
import { resolveUserPath, loadS3Credentials } from "../config/credentials.js";
import type { StorageConfig } from "../config/schema.js";
import type { Logger } from "../log.js";
import { createFsStorage } from "./fs.js";
import { createS3Storage } from "./s3.js";
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

export async function createStorage(storage: StorageConfig, options: CreateStorageOptions): Promise<Storage> {
  if (storage.type === "fs") {
    return createFsStorage({ root: resolveUserPath(storage.path, options.baseDir, options.home), prefix: storage.prefix });
  }
  const credentials = loadS3Credentials(storage, { baseDir: options.baseDir, env: options.env, home: options.home });
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
export { StorageError, isStorageError, type StorageErrorKind } from "./errors.js";
export { createFsStorage, FsStorage } from "./fs.js";
export { SyncCache, hashFile, hashBytes } from "./hash.js";
export { localPathForKey, explainUnsafeKey } from "./keys.js";
export { createProgress, silentProgress, type ProgressReporter } from "./progress.js";
export { createS3Storage, S3Storage, type S3StorageOptions } from "./s3.js";
export {
  downloadPrefix,
  executeDownload,
  executeUpload,
  planDownload,
  planUpload,
  uploadDir,
  type DownloadPlan,
  type DownloadSummary,
  type UploadPlan,
  type UploadSummary,
} from "./sync.js";
export { joinKey, type ObjectInfo, type PutOptions, type PutResult, type Storage } from "./types.js";
