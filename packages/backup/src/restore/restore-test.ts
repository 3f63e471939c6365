import {
  type BackupManifest,
  latestGoodBackup,
  type RestoreTestRecord,
  readManifest,
  writeManifest,
} from '@warden/catalog';
import { errorMessage, RestoreError } from '@warden/errors';
import type { RestoreCheck } from '../content/restore-check.js';
import { restoreBackup } from './restore-backup.js';
import type { RestoreBackupOptions, RestoreDeps, RestoreProgress } from './restore-options.js';
import { dropStaleScratchDatabases } from './stale-scratch.js';

export interface RestoreTestOptions
  extends Pick<
    RestoreBackupOptions,
    | 'target'
    | 'spoolDir'
    | 'minFreeBytes'
    | 'psqlPath'
    | 'zstdPath'
    | 'maintenanceDatabase'
    | 'encryptionKey'
    | 'timeoutMs'
    | 'jobId'
    | 'now'
    | 'signal'
  > {
  /** A backup file name of the target. @defaultValue the target's newest backup */
  file?: string;
  onProgress?: (progress: RestoreProgress) => void;
}

export interface RestoreTestOutcome {
  target: string;
  file: string;
  /** What was written into the manifest's `verification` field. */
  record: RestoreTestRecord;
  /** Row and table totals of the scratch database when the restore got that far. */
  check?: RestoreCheck;
  /** The manifest as stored after recording the restore test (`undefined` when it vanished meanwhile). */
  manifest: BackupManifest | undefined;
}

/**
 * Failures that say something about the backup itself: they are recorded as a failed restore test.
 * Anything else (database server down, storage unreachable) is thrown so the job is retried.
 */
const BACKUP_FAULTS: ReadonlySet<RestoreError['code']> = new Set([
  'RESTORE_INTEGRITY_FAILED',
  'RESTORE_CHECK_FAILED',
  'ENCRYPTION_KEY_MISSING',
  'ENCRYPTION_KEY_MISMATCH',
  'RESTORE_BACKUP_NOT_FOUND',
]);

function isBackupFault(error: unknown): error is RestoreError {
  if (!(error instanceof RestoreError)) return false;
  // psql exit 3 is an error in the dump's SQL; other psql failures (lost connection) are not the backup's.
  return BACKUP_FAULTS.has(error.code) || (error.code === 'RESTORE_PSQL_FAILED' && error.permanent);
}

/**
 * docs/architecture.md#restore-test, the restore test: restores the target's newest backup (of its own database) into a
 * scratch database, compares schema objects and per-table row counts with the manifest, drops the
 * scratch database, and records the result as `manifest.verification`. Resolves with a `failed`
 * record when the backup is at fault; throws when the test could not run.
 */
export async function runRestoreTest(
  deps: RestoreDeps,
  options: RestoreTestOptions,
): Promise<RestoreTestOutcome> {
  const { storage } = deps;
  const { target } = options;
  const now = options.now ?? (() => new Date());
  const log = deps.logger.child({ target: target.name, ...(options.jobId ? { jobId: options.jobId } : {}) });

  let file = options.file;
  if (file === undefined) {
    // The newest backup of the target, tested again even when an earlier test failed it.
    const newest = await latestGoodBackup(storage, target, { includeFailedRestoreTests: true });
    if (!newest) {
      throw new RestoreError(
        'RESTORE_BACKUP_NOT_FOUND',
        `target "${target.name}" has no backup to restore-test yet`,
      );
    }
    file = newest.filename;
  }

  const startedAt = now();
  // A test killed mid-way left its scratch database; one older than the restore timeout has no
  // test running any more, so it goes before this one makes another.
  try {
    const dropped = await dropStaleScratchDatabases(target, {
      label: 'verify',
      olderThan: new Date(startedAt.getTime() - (options.timeoutMs ?? 6 * 3_600_000) - 60_000),
      ...(options.maintenanceDatabase === undefined
        ? {}
        : { maintenanceDatabase: options.maintenanceDatabase }),
    });
    if (dropped.length > 0)
      log.warn({ dropped }, 'dropped scratch databases an interrupted restore test left');
  } catch (error) {
    log.warn({ err: error }, 'could not look for scratch databases left by interrupted restore tests');
  }
  let record: RestoreTestRecord;
  let check: RestoreCheck | undefined;
  try {
    const result = await restoreBackup(deps, {
      ...options,
      file,
      discard: true,
      overwrite: false,
      dryRun: false,
      newDatabaseLabel: 'verify',
    });
    check = result.check;
    record = {
      status: 'passed',
      at: now().toISOString(),
      database: result.database,
      duration_ms: now().getTime() - startedAt.getTime(),
    };
    log.info({ file, tables: check?.tables, rows: check?.rows }, 'restore test passed');
  } catch (error) {
    if (!isBackupFault(error)) throw error;
    record = {
      status: 'failed',
      at: now().toISOString(),
      duration_ms: now().getTime() - startedAt.getTime(),
      problems: error.problems.length > 0 ? [...error.problems] : [`${error.code}: ${errorMessage(error)}`],
    };
    log.warn({ file, code: error.code, problems: record.problems }, 'restore test failed');
  }

  // Re-read so that nothing written meanwhile is overwritten; a backup deleted meanwhile stays deleted.
  let manifest: BackupManifest | undefined;
  try {
    const current = await readManifest(storage, target.name, file);
    if (current) {
      manifest = { ...current, verification: record };
      await writeManifest(storage, manifest);
    } else {
      log.warn({ file }, 'the restore-tested backup disappeared before its result could be recorded');
    }
  } catch (error) {
    log.warn({ err: error, file }, 'recording the restore test in the manifest failed');
    manifest = undefined;
  }
  return { target: target.name, file, record, ...(check ? { check } : {}), manifest };
}
