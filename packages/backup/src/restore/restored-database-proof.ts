import type { BackupManifest } from '@warden/catalog';
import { errorMessage, RestoreError, scrubError, scrubSecrets } from '@warden/errors';
import { startContentCheck } from '../content/content-check.js';
import type { RestoreCheck } from '../content/restore-check.js';
import type { ConnectionParams } from '../postgres/connection.js';
import type { RestoreDeadline } from './restore-deadline.js';

export interface RestoredDatabase {
  /** Connection URL of the restored database. */
  url: string;
  /** Its connection parameters (for psql). */
  params: ConnectionParams;
}

/** The proof of a database being restored (content/content-check.ts). */
export interface RestoredDatabaseProof {
  /** The load committed the dump's `ordinal`-th COPY: its table may be read back while the load goes on. */
  copyCommitted(ordinal: number): void;
  /**
   * After the load: schema objects and row counts, and when they agree its content. Returns the
   * totals, or throws `RESTORE_CHECK_FAILED` with every difference in `problems`.
   */
  finish(): Promise<RestoreCheck>;
  /** The load failed: stops the reading. */
  cancel(): void;
}

/** Starts proving a database about to be loaded from the backup of `manifest`. */
export function startRestoredDatabaseProof(
  manifest: BackupManifest,
  restored: RestoredDatabase,
  psqlPath: string,
  deadline: RestoreDeadline,
  secrets: readonly string[],
  localeNote: string | undefined,
): RestoredDatabaseProof {
  const run = startContentCheck({
    manifest,
    ...(localeNote === undefined ? {} : { localeNote }),
    url: restored.url,
    params: restored.params,
    psqlPath,
    signal: deadline.signal,
    secrets,
  });
  return {
    copyCommitted: (ordinal) => run.copyCommitted(ordinal),
    cancel: () => run.cancel(),
    async finish() {
      const { problems, check } = await run.finish().catch((error: unknown) => {
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
    },
  };
}
