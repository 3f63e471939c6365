import type { BackupManifest } from '@warden/catalog';
import { errorMessage, RestoreError, scrubError, scrubSecrets } from '@warden/errors';
import { checkRestoredContent } from '../content/content-proof.js';
import type { RestoreCheck } from '../content/restore-check.js';
import type { ConnectionParams } from '../postgres/connection.js';
import type { RestoreDeadline } from './restore-deadline.js';

export interface RestoredDatabase {
  /** Connection URL of the restored database. */
  url: string;
  /** Its connection parameters (for psql). */
  params: ConnectionParams;
}

/**
 * Proves a restored database against the backup's manifest (content/content-proof.ts): schema
 * objects and row counts, and when they agree its content. Returns the totals, or throws
 * `RESTORE_CHECK_FAILED` with every difference in `problems`.
 */
export async function proveRestoredDatabase(
  manifest: BackupManifest,
  restored: RestoredDatabase,
  psqlPath: string,
  deadline: RestoreDeadline,
  secrets: readonly string[],
): Promise<RestoreCheck> {
  const { problems, check } = await checkRestoredContent({
    manifest,
    url: restored.url,
    params: restored.params,
    psqlPath,
    signal: deadline.signal,
    secrets,
  }).catch((error: unknown) => {
    throw deadline.signal.aborted
      ? deadline.abortError()
      : new RestoreError(
          'RESTORE_CONNECT_FAILED',
          `checking the restored database failed: ${scrubSecrets(errorMessage(error), secrets)}`,
          { cause: scrubError(error, secrets) },
        );
  });
  if (problems.length > 0) {
    throw new RestoreError(
      'RESTORE_CHECK_FAILED',
      `the restored database differs from backup ${manifest.filename}: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? `; … ${problems.length - 5} more` : ''}`,
      { problems },
    );
  }
  return check;
}
