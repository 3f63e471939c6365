import { formatBackupTimestamp } from '@warden/catalog';
import { RestoreError } from '@warden/errors';
import { databaseNameProblem, MAX_IDENTIFIER_BYTES, truncateUtf8 } from '@warden/names';

/** Never restored into: the cluster's own databases (and where the restore itself connects). */
const PROTECTED_DATABASES = new Set(['postgres', 'template0', 'template1']);

export function assertRestorableDatabaseName(name: string, maintenanceDatabase = 'postgres'): void {
  const problem = databaseNameProblem(name);
  if (problem !== undefined) {
    throw new RestoreError(
      'RESTORE_INVALID_DATABASE',
      `invalid database name "${name.slice(0, 80)}": ${problem}`,
    );
  }
  if (PROTECTED_DATABASES.has(name) || name === maintenanceDatabase) {
    throw new RestoreError(
      'RESTORE_INVALID_DATABASE',
      `refusing to restore into the system database "${name}"`,
    );
  }
}

/** `<database>_<label>_<YYYYMMDD_HHMMSS>`, the database part shortened to stay within 63 bytes. */
export function restoreDatabaseName(database: string, at: Date, label = 'restore'): string {
  const suffix = `_${label}_${formatBackupTimestamp(at)}`;
  return `${truncateUtf8(database, MAX_IDENTIFIER_BYTES - suffix.length)}${suffix}`;
}

/** The same connection URL pointing at another database of the server. */
export function databaseUrlFor(url: string, database: string): string {
  const parsed = new URL(url);
  // Read back by databaseNameOfUrl (decodeURIComponent), for libpq and the pg client alike.
  parsed.pathname = `/${encodeURIComponent(database)}`;
  parsed.searchParams.delete('dbname');
  return parsed.toString();
}
