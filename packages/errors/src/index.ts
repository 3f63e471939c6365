export {
  BACKUP_ERROR_CODES,
  type BackupErrorCode,
  ENCRYPTION_ERROR_CODES,
  type EncryptionErrorCode,
  ERROR_CODES,
  type ErrorCode,
  type ErrorCodeInfo,
  RESTORE_ERROR_CODES,
  type RestoreErrorCode,
  STORAGE_ERROR_CODES,
  type StorageErrorCode,
} from './error-codes.js';
export { errorMessage } from './error-message.js';
export {
  BackupError,
  type BackupErrorOptions,
  type BackupFailureCode,
  EncryptionError,
  isBackupError,
  isEncryptionError,
  isRestoreError,
  RestoreError,
  StorageError,
} from './family-errors.js';
export {
  createSecretScrubber,
  describeError,
  REDACTED,
  scrubDeep,
  scrubError,
  scrubSecrets,
} from './secret-scrubber.js';
export { isWardenError, WardenError, type WardenErrorOptions } from './warden-error.js';
