export { type BackupResult, toBackupResult } from './backup-result.js';
export {
  type ListBackupsOptions,
  listBackups,
  parseManifest,
  parseManifestBytes,
  readManifest,
  timeOfBackupName,
  writeManifest,
} from './catalog.js';
export {
  addToCatalogIndex,
  type BackupCatalog,
  catalogIndexKey,
  createIndexedCatalog,
  type IndexedCatalogOptions,
} from './catalog-index.js';
export {
  type CatalogTarget,
  firstGoodBackup,
  type GoodBackupFields,
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
  CONTENT_PROOF_VERSION,
  type ContentProof,
  type DatabaseLocale,
  type DatabaseProperties,
  dumpKeyFor,
  type EventTriggerRecord,
  formatBackupTimestamp,
  MANIFEST_FORMAT_VERSION,
  MANIFEST_SUFFIX,
  manifestKeyFor,
  type RestoreTestRecord,
  type SequenceValue,
  sizeMb,
  type TableDigest,
  type TableRowCount,
} from './manifest.js';
export {
  createManifestSummaries,
  type ManifestSummaries,
  type ManifestSummariesOptions,
  type ManifestSummary,
} from './manifest-summaries.js';
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
