export { type BackupResult, toBackupResult } from './backup-result.js';
export {
  type ListBackupsOptions,
  listBackups,
  parseManifest,
  parseManifestBytes,
  readManifest,
  writeManifest,
} from './catalog.js';
export {
  type CatalogTarget,
  isGoodBackupOf,
  isSafetyCopy,
  type LatestGoodBackupOptions,
  latestGoodBackup,
  pickLatestGoodBackup,
  SAFETY_COPY_TRIGGER,
} from './latest-good-backup.js';
export {
  type BackupManifest,
  backupFileName,
  dumpKeyFor,
  formatBackupTimestamp,
  MANIFEST_FORMAT_VERSION,
  MANIFEST_SUFFIX,
  manifestKeyFor,
  type RestoreVerification,
  sizeMb,
} from './manifest.js';
export {
  type ApplyRetentionOptions,
  applyRetention,
  explainRetention,
  isoWeekKey,
  planRetention,
  type RetentionExplanation,
  type RetentionOutcome,
  type RetentionPlan,
  type RetentionPolicy,
  type RetentionReason,
  type RetentionRules,
  type RetentionTargetRef,
} from './retention.js';
