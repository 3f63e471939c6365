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
export {
  assertRestorableDatabaseName,
  checkPsql,
  databaseUrlFor,
  type RestoreBackupOptions,
  type RestoreDeps,
  type RestoreProgress,
  type RestoreResult,
  resolveBackup,
  restoreBackup,
  restoreDatabaseName,
  type SafetyBackupSettings,
} from './restore.js';
export { compareWithManifest, qualifiedName, type RestoreCheck } from './restore-check.js';
export {
  type RestoreVerificationOutcome,
  type VerifyRestoreOptions,
  verifyRestore,
} from './restore-verify.js';
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
