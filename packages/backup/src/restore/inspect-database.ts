import { errorMessage, RestoreError, scrubError, scrubSecrets } from '@warden/errors';
import { openDumpSnapshot, type SnapshotCounts } from '../content/snapshot.js';

/** Counts rows and schema objects of a restored database exactly as the backup counted its snapshot. */
export async function inspectDatabase(url: string, secrets: readonly string[]): Promise<SnapshotCounts> {
  try {
    const snapshot = await openDumpSnapshot(url);
    try {
      return await snapshot.count(true);
    } finally {
      await snapshot.close();
    }
  } catch (error) {
    throw new RestoreError(
      'RESTORE_CONNECT_FAILED',
      `counting the restored database failed: ${scrubSecrets(errorMessage(error), secrets)}`,
      { cause: scrubError(error, secrets) },
    );
  }
}
