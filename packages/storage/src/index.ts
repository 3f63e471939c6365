export {
  assertSafeKey,
  type BackupStorage,
  type PutOptions,
  StorageError,
  type StoredObject,
} from './storage.js';
