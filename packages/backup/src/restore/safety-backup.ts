import { SAFETY_COPY_TRIGGER } from '@warden/catalog';
import { BackupError, errorMessage, RestoreError } from '@warden/errors';
import { type RunBackupDeps, runBackup } from '../pipeline/run-backup.js';
import type { BackupTargetSpec } from '../pipeline/target.js';
import { databaseUrlFor } from './naming.js';
import type {
  RestoreBackupOptions,
  SafetyBackupProgress,
  SafetyBackupSettings,
  TakeSafetyBackup,
} from './restore-options.js';

/** What a safety backup of `database` runs as: the restore's target, pointed at that database. */
export function safetyBackupTarget(target: BackupTargetSpec, database: string): BackupTargetSpec {
  return { ...target, database, databaseUrl: databaseUrlFor(target.databaseUrl, database) };
}

/** A failed safety backup as the restore reports it; a permanent cause stays permanent. */
export function safetyBackupFailed(database: string, error: unknown): RestoreError {
  return new RestoreError(
    'RESTORE_SAFETY_BACKUP_FAILED',
    `the safety backup of database "${database}" failed, so it was not replaced: ${errorMessage(error)}`,
    { cause: error, permanent: error instanceof BackupError && error.permanent },
  );
}

/**
 * The safety backup as one process takes it (the CLI): the whole pipeline through `runBackup`,
 * upload retries slept out in between. Retention must not run because of a backup that only exists
 * to undo a restore, and the safety-copy trigger keeps it out of "latest".
 */
export function safetyBackupWithRunBackup(
  deps: RunBackupDeps,
  settings: SafetyBackupSettings,
  target: BackupTargetSpec,
  jobId?: string,
): TakeSafetyBackup {
  return async (database, signal) => {
    try {
      const manifest = await runBackup(deps, {
        ...settings,
        target: safetyBackupTarget(target, database),
        retention: false,
        trigger: SAFETY_COPY_TRIGGER,
        signal,
        ...(jobId ? { jobId } : {}),
      });
      return manifest.filename;
    } catch (error) {
      throw safetyBackupFailed(database, error);
    }
  };
}

/** The restore's step: the safety backup its driver injected; without one, replacing is refused. */
export async function takeSafetyBackup(
  options: Pick<RestoreBackupOptions, 'takeSafetyBackup'>,
  database: string,
  signal: AbortSignal,
  onProgress: (progress: SafetyBackupProgress) => void,
): Promise<string> {
  if (!options.takeSafetyBackup) {
    throw new RestoreError(
      'RESTORE_SAFETY_BACKUP_FAILED',
      `replacing database "${database}" needs a safety backup of it first, and no way to take one was given`,
      { permanent: true },
    );
  }
  return options.takeSafetyBackup(database, signal, onProgress);
}
