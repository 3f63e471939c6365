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
} from './compression.js';
export {
  type ConnectionParams,
  connectionSecrets,
  libpqEnv,
  parseDatabaseUrl,
} from './connection.js';
export { type ContentCheck, type ContentCheckOptions, checkRestoredContent } from './content-proof.js';
export {
  type BackupProgress,
  type CreateSpooledBackupOptions,
  createSpooledBackup,
  type SpooledBackup,
  type StreamUploadInfo,
  spoolFileName,
} from './dump.js';
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
} from './encryption.js';
export {
  checkPgDump,
  majorFromVersionNum,
  type PreflightOptions,
  type PreflightResult,
  parsePgDumpVersion,
  runPreflight,
} from './preflight.js';
export { assertRestorableDatabaseName, databaseUrlFor, restoreDatabaseName } from './restore/naming.js';
export { checkPsql } from './restore/psql-runner.js';
export { resolveBackup } from './restore/resolve-backup.js';
export { restoreBackup } from './restore/restore-backup.js';
export type {
  RestoreBackupOptions,
  RestoreDeps,
  RestoreProgress,
  RestoreResult,
  SafetyBackupSettings,
} from './restore/restore-options.js';
export {
  type RestoreVerificationOutcome,
  type VerifyRestoreOptions,
  verifyRestore,
} from './restore/restore-test.js';
export { compareWithManifest, qualifiedName, type RestoreCheck } from './restore-check.js';
export { type RunBackupDeps, type RunBackupOptions, runBackup } from './run-backup.js';
export type { SnapshotCounts, SnapshotFacts } from './snapshot.js';
export {
  isBackupFileNameOf,
  type LoadSpooledBackupOptions,
  loadSpooledBackup,
  removeSpooledBackup,
  SPOOL_RECORD_SUFFIX,
  spoolPathFor,
  spoolRecordPathFor,
  writeSpoolRecord,
} from './spool-record.js';
export { DUMP_COMPLETE_MARKER, hasCompletionTrailer } from './tail-buffer.js';
export type { BackupTargetSpec } from './target.js';
export { type UploadSpooledBackupOptions, uploadSpooledBackup } from './upload.js';
export {
  isUploadError,
  nextUploadStep,
  streamedUploadFailure,
  type UploadRetrySettings,
  type UploadStep,
} from './upload-policy.js';
export {
  createStreamVerifier,
  type StreamVerifier,
  type StreamVerifierOptions,
  type StreamVerifierResult,
  type VerifyBackupOptions,
  type VerifyBackupResult,
  verifyBackupFile,
} from './verify.js';
