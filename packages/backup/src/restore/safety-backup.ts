import { SAFETY_COPY_TRIGGER } from '@warden/catalog';
import { BackupError, errorMessage, RestoreError } from '@warden/errors';
import { runBackup } from '../pipeline/run-backup.js';
import { databaseUrlFor } from './naming.js';
import type { RestoreBackupOptions, RestoreDeps } from './restore-options.js';

export async function takeSafetyBackup(
  deps: RestoreDeps,
  options: RestoreBackupOptions,
  database: string,
  signal: AbortSignal,
): Promise<string> {
  if (!options.safetyBackup) {
    throw new RestoreError(
      'RESTORE_SAFETY_BACKUP_FAILED',
      `replacing database "${database}" needs a safety backup of it first, and no backup settings were given`,
      { permanent: true },
    );
  }
  const { target } = options;
  try {
    const manifest = await runBackup(deps, {
      ...options.safetyBackup,
      target: { ...target, database, databaseUrl: databaseUrlFor(target.databaseUrl, database) },
      // Retention must not run because of a backup that only exists to undo this restore.
      retention: false,
      trigger: SAFETY_COPY_TRIGGER,
      signal,
      ...(options.jobId ? { jobId: options.jobId } : {}),
    });
    return manifest.filename;
  } catch (error) {
    throw new RestoreError(
      'RESTORE_SAFETY_BACKUP_FAILED',
      `the safety backup of database "${database}" failed, so it was not replaced: ${errorMessage(error)}`,
      { cause: error, permanent: error instanceof BackupError && error.permanent },
    );
  }
}
