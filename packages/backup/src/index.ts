export {
  type BackupManifest,
  backupFileName,
  dumpKeyFor,
  formatBackupTimestamp,
  MANIFEST_FORMAT_VERSION,
  MANIFEST_SUFFIX,
  manifestKeyFor,
  type RestoreVerification,
} from './manifest.js';
