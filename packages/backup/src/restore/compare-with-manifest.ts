import type { BackupManifest } from '@warden/catalog';
import { errorMessage, RestoreError, scrubError, scrubSecrets } from '@warden/errors';
import { openDumpSnapshot, type SnapshotCounts } from '../snapshot.js';
import type { RestoreCheck } from './restore-options.js';

/**
 * Compares a restored database with the manifest: schema object counts by kind and, when the dump's
 * snapshot was counted exactly, every table's row count. Returns the differences (none = passed).
 */
export function compareWithManifest(
  manifest: BackupManifest,
  restored: SnapshotCounts,
): { problems: string[]; check: RestoreCheck } {
  const problems: string[] = [];
  const rows = Object.values(restored.rowCounts).reduce((sum, count) => sum + count, 0);
  const check: RestoreCheck = {
    rowCounts: 'skipped',
    schemaObjects: 'skipped',
    tables: Object.keys(restored.rowCounts).length,
    rows,
  };
  if (manifest.schema_objects && Object.keys(manifest.schema_objects).length > 0) {
    check.schemaObjects = 'matched';
    for (const [kind, expected] of Object.entries(manifest.schema_objects)) {
      const actual = restored.schemaObjects[kind];
      if (actual !== expected) {
        problems.push(
          `schema objects "${kind}": ${expected} at dump time, ${actual ?? 'none'} after restore`,
        );
      }
    }
  }
  const expectedCounts = manifest.row_counts;
  if (expectedCounts && manifest.row_counts_source !== 'none' && manifest.row_counts_source !== undefined) {
    const exact = manifest.row_counts_source === 'snapshot';
    check.rowCounts = exact ? 'matched' : 'tables-only';
    for (const [table, expected] of Object.entries(expectedCounts)) {
      const actual = restored.rowCounts[table];
      if (actual === undefined) problems.push(`table ${table} is missing after restore`);
      else if (exact && actual !== expected) {
        problems.push(`table ${table}: ${expected} rows in the backup's snapshot, ${actual} after restore`);
      }
    }
    if (exact) {
      for (const table of Object.keys(restored.rowCounts)) {
        if (!(table in expectedCounts)) problems.push(`table ${table} is not in the backup's snapshot`);
      }
    }
  }
  if (problems.length > 0) {
    if (check.rowCounts === 'matched') check.rowCounts = 'skipped';
    if (check.schemaObjects === 'matched') check.schemaObjects = 'skipped';
  }
  return { problems, check };
}

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
