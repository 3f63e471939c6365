import type { Logger } from '@warden/logging';
import type { BackupStorage } from '@warden/storage';
import type { RestoreCheck } from '../content/restore-check.js';
import type { RunBackupOptions } from '../pipeline/run-backup.js';
import type { BackupTargetSpec } from '../pipeline/target.js';

export interface RestoreProgress {
  /** `verify` is the integrity check; phase words are read from job progress, so they stay. */
  phase: 'prepare' | 'download' | 'verify' | 'safety-backup' | 'restore' | 'check' | 'swap' | 'done';
  /** 0-100 over the whole restore. */
  percent: number;
  /**
   * Phase `restore`: stored (compressed) bytes fed to psql so far; download/verify: bytes read;
   * `safety-backup`: bytes of the safety backup dumped (then uploaded) so far.
   */
  bytes: number;
  /** Stored size of the backup. */
  totalBytes: number;
  /** Phase `restore`: SQL bytes fed to psql so far. */
  sqlBytes?: number;
}

/** The backup pipeline's settings for a safety backup taken through `runBackup`. */
export type SafetyBackupSettings = Omit<
  RunBackupOptions,
  'target' | 'retention' | 'trigger' | 'jobId' | 'signal' | 'onProgress' | 'onRetention' | 'now'
>;

/**
 * Takes a safety backup of `database` (on the target's server) before the restore replaces it and
 * returns the stored backup's file name, reporting its progress to `onProgress` if it can. Its driver decides how: the CLI runs `runBackup`, the
 * worker its own backup steps under the target lock. A failure is a `RESTORE_SAFETY_BACKUP_FAILED`
 * (`safetyBackupFailed`); any other error (the worker's hand-back to the queue) passes through the
 * restore unchanged.
 */
export type TakeSafetyBackup = (
  database: string,
  signal: AbortSignal,
  onProgress?: (progress: SafetyBackupProgress) => void,
) => Promise<string>;

/** How far a safety backup has come, as its driver reports it. */
export interface SafetyBackupProgress {
  /** 0-100 over the safety backup (dump, integrity check and upload). */
  percent: number;
  bytes: number;
}

export interface RestoreBackupOptions {
  /** The target the backup belongs to; its server is where the restore goes. */
  target: BackupTargetSpec;
  /** A backup file name of the target, or `latest` for its newest good backup. */
  file: string;
  /** Database to restore into. @defaultValue a new `<database>_restore_<YYYYMMDD_HHMMSS>` */
  database?: string;
  /** Allow replacing an existing database (after a safety backup of it). @defaultValue false */
  overwrite?: boolean;
  /** Download, check and plan only; nothing is written to any database. @defaultValue false */
  dryRun?: boolean;
  /** Where the backup is downloaded and checked before anything else happens. */
  spoolDir: string;
  /** Free space required in `spoolDir` besides the backup itself. @defaultValue 0 */
  minFreeBytes?: number;
  /** @defaultValue 'psql' */
  psqlPath?: string;
  /** @defaultValue 'zstd' */
  zstdPath?: string;
  /** Database the restore connects to for CREATE/DROP/RENAME DATABASE. @defaultValue 'postgres' */
  maintenanceDatabase?: string;
  /** 64 hex characters; needed for encrypted backups. */
  encryptionKey?: string;
  /** Required to replace an existing database: how to back it up first. */
  takeSafetyBackup?: TakeSafetyBackup;
  /** Drop the restored database once checked (restore tests). @defaultValue false */
  discard?: boolean;
  /** Middle part of a generated database name. @defaultValue 'restore' */
  newDatabaseLabel?: string;
  /** Limit for the whole restore. @defaultValue 6 hours */
  timeoutMs?: number;
  jobId?: string;
  /** @defaultValue () => new Date() */
  now?: () => Date;
  onProgress?: (progress: RestoreProgress) => void;
  signal?: AbortSignal;
}

export interface RestoreResult {
  /** `dry-run`: the backup passed its checks and the plan was checked; nothing was written. */
  status: 'success' | 'dry-run';
  target: string;
  file: string;
  key: string;
  sha256: string;
  bytes: number;
  sql_bytes: number;
  database: string;
  /** `create`: a new database; `replace`: an existing one was replaced after a safety backup. */
  action: 'create' | 'replace';
  dryRun: boolean;
  /** The restored database was dropped after the check (restore tests). */
  discarded: boolean;
  /** File name of the safety backup taken of the replaced database. */
  safety_backup?: string;
  check?: RestoreCheck;
  started_at: string;
  finished_at: string;
  duration_ms: number;
}

/** The restore's dependencies; the storage is left open. */
export interface RestoreDeps {
  storage: BackupStorage;
  logger: Logger;
}
