export { silenceAwsNodeVersionWarning } from './aws-node-warning.js';
export { createStorage, type StorageOptions } from './create-storage.js';
export { createLocalStorage, type LocalStorageOptions } from './local-storage.js';
export { choosePartSize, createS3Storage, type S3StorageOptions } from './s3-storage.js';
export {
  assertSafeKey,
  assertSafePrefix,
  type BackupStorage,
  type PutOptions,
  type StoredObject,
} from './storage.js';
