import { type BackupManifest, latestGoodBackup, readManifest } from '@warden/catalog';
import { BackupError, errorMessage, RestoreError } from '@warden/errors';
import type { BackupStorage } from '@warden/storage';
import type { BackupTargetSpec } from '../pipeline/target.js';

/** The manifest of `file` (or the latest good backup); throws `RESTORE_BACKUP_NOT_FOUND`. */
export async function resolveBackup(
  storage: BackupStorage,
  target: Pick<BackupTargetSpec, 'name' | 'database'>,
  file: string,
): Promise<BackupManifest> {
  if (file === 'latest') {
    const latest = await latestGoodBackup(storage, { name: target.name, database: target.database });
    if (!latest) {
      throw new RestoreError(
        'RESTORE_BACKUP_NOT_FOUND',
        `target "${target.name}" has no good backup of database "${target.database}" to restore`,
      );
    }
    return latest;
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,250}$/.test(file) || file.includes('..')) {
    throw new RestoreError('RESTORE_BACKUP_NOT_FOUND', `"${file.slice(0, 80)}" is not a backup file name`);
  }
  let manifest: BackupManifest | undefined;
  try {
    manifest = await readManifest(storage, target.name, file);
  } catch (error) {
    if (error instanceof BackupError) {
      throw new RestoreError(
        'RESTORE_INTEGRITY_FAILED',
        `the manifest of ${file} is unusable: ${error.message}`,
        {
          cause: error,
        },
      );
    }
    throw new RestoreError(
      'RESTORE_DOWNLOAD_FAILED',
      `reading the manifest of ${file} failed: ${errorMessage(error)}`,
      {
        cause: error,
      },
    );
  }
  if (!manifest) {
    throw new RestoreError(
      'RESTORE_BACKUP_NOT_FOUND',
      `backup "${file}" of target "${target.name}" not found (no manifest, so not a complete, checked backup)`,
    );
  }
  return manifest;
}
