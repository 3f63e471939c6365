import { createLocalStorage, type LocalStorageOptions } from './local-storage.js';
import { createS3Storage, type S3StorageOptions } from './s3-storage.js';
import type { BackupStorage } from './storage.js';

/** Either backend, tagged by `kind`; the configuration's `storage` section has this shape. */
export type StorageOptions = ({ kind: 'local' } & LocalStorageOptions) | ({ kind: 's3' } & S3StorageOptions);

/** The storage the options describe: an S3 bucket, or a local directory when no bucket is set. */
export function createStorage(options: StorageOptions): BackupStorage {
  return options.kind === 's3' ? createS3Storage(options) : createLocalStorage(options);
}
