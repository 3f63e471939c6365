export {
  BackupError,
  type BackupErrorCode,
  type BackupErrorOptions,
  errorMessage,
  isBackupError,
} from './backup-error.js';
