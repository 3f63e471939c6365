export {
  type CodecStage,
  type Compression,
  compressionContentType,
  createDecompressor,
  createParallelGzip,
  detectPigz,
  type GzipEngine,
  gzipFallbackWarning,
  pipeThroughCodec,
} from './codecs/compression.js';
export {
  createDecryptStream,
  createEncryptStream,
  ENCRYPTED_FILE_SUFFIX,
  ENCRYPTION_ALGORITHM,
  type EncryptedHeader,
  type EncryptionKey,
  type EncryptStreamOptions,
  keyIdOf,
  looksEncrypted,
  parseEncryptedHeader,
} from './codecs/encryption.js';
export {
  type ContentCheck,
  type ContentCheckOptions,
  type ContentCheckRun,
  checkRestoredContent,
  startContentCheck,
} from './content/content-check.js';
export { EXACTLY_DECODED_ENCODINGS, lineDecoder } from './content/dump-content.js';
export { compareWithManifest, qualifiedName, type RestoreCheck } from './content/restore-check.js';
export {
  type DumpSnapshot,
  openDumpSnapshot,
  type SnapshotCounts,
  type SnapshotFacts,
} from './content/snapshot.js';
export { createSpooledBackup } from './pipeline/dump.js';
export {
  type BackupProgress,
  type CreateSpooledBackupOptions,
  type SpooledBackup,
  spoolFileName,
} from './pipeline/dump-options.js';
export {
  type BackupFileIntegrityOptions,
  type BackupFileIntegrityResult,
  checkBackupFileIntegrity,
  createIntegrityCheck,
  type IntegrityCheck,
  type IntegrityCheckOptions,
  type IntegrityCheckResult,
} from './pipeline/integrity-check.js';
export {
  JOB_RECORD_SUFFIX,
  type JobSpoolRecord,
  jobRecordPathFor,
  listJobSpoolRecords,
  readJobSpoolRecord,
  removeJobSpoolRecord,
  writeJobSpoolRecord,
} from './pipeline/job-spool-record.js';
export {
  checkPgDump,
  majorFromVersionNum,
  type PreflightOptions,
  type PreflightResult,
  parsePgDumpVersion,
  runPreflight,
} from './pipeline/preflight.js';
export { type RunBackupDeps, type RunBackupOptions, runBackup } from './pipeline/run-backup.js';
export {
  isBackupFileNameOf,
  type LoadSpooledBackupOptions,
  loadSpooledBackup,
  removeSpooledBackup,
  SPOOL_RECORD_SUFFIX,
  spoolPathFor,
  spoolRecordPathFor,
  writeSpoolRecord,
} from './pipeline/spool-record.js';
export type { StreamUploadInfo } from './pipeline/streamed-upload.js';
export type { BackupTargetSpec } from './pipeline/target.js';
export { type UploadSpooledBackupOptions, uploadSpooledBackup } from './pipeline/upload.js';
export {
  isUploadError,
  nextUploadStep,
  streamedUploadFailure,
  type UploadRetrySettings,
  type UploadStep,
} from './pipeline/upload-policy.js';
export {
  type ConnectionParams,
  connectionSecrets,
  libpqEnv,
  parseDatabaseUrl,
} from './postgres/connection.js';
export { assertRestorableDatabaseName, databaseUrlFor, restoreDatabaseName } from './restore/naming.js';
export { DATA_SESSIONS, type ParallelLoad, startParallelLoad } from './restore/parallel-load.js';
export { checkPsql } from './restore/psql-runner.js';
export { resolveBackup } from './restore/resolve-backup.js';
export { restoreBackup } from './restore/restore-backup.js';
export type {
  RestoreBackupOptions,
  RestoreDeps,
  RestoreProgress,
  RestoreResult,
  SafetyBackupProgress,
  SafetyBackupSettings,
  TakeSafetyBackup,
} from './restore/restore-options.js';
export {
  type RestoreTestOptions,
  type RestoreTestOutcome,
  runRestoreTest,
} from './restore/restore-test.js';
export {
  safetyBackupFailed,
  safetyBackupTarget,
  safetyBackupWithRunBackup,
} from './restore/safety-backup.js';
export { DUMP_COMPLETE_MARKER, hasCompletionTrailer } from './streams/tail-buffer.js';
