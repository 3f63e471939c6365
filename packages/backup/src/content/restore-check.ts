import type { BackupManifest, TableRowCount } from '@warden/catalog';
import { quoteIdent } from '../postgres/connection.js';
import { tableKey } from './dump-content.js';
import type { SnapshotCounts } from './snapshot.js';

export interface RestoreCheck {
  /** `matched`: exact per-table counts equal the dump's snapshot; `tables-only`: the manifest had estimates. */
  rowCounts: 'matched' | 'tables-only' | 'skipped';
  schemaObjects: 'matched' | 'skipped';
  /**
   * `matched`: every table's data, every sequence and the large objects equal what was dumped;
   * `counts-only`: not compared (see `contentNote`), the counts are the proof; `skipped`: the
   * backup has no content digests (made before they existed).
   */
  content?: 'matched' | 'counts-only' | 'skipped';
  contentNote?: string;
  /** The database's comment and settings were re-applied and read back equal. */
  properties?: 'matched' | 'skipped';
  /**
   * `matched`: the database has the backup's encoding and locale; `server-default`: the server could
   * not create it with them (see `localeNote`); `skipped`: the backup did not record them.
   */
  locale?: 'matched' | 'server-default' | 'skipped';
  localeNote?: string;
  tables: number;
  rows: number;
}

/** `"schema"."name"`, as messages name a table or sequence. */
export function qualifiedName(item: { schema: string; name: string }): string {
  return `${quoteIdent(item.schema)}.${quoteIdent(item.name)}`;
}

/** The manifest's per-table counts; an older manifest's `schema.table` keys are split at the first dot. */
function expectedTables(manifest: BackupManifest): TableRowCount[] | undefined {
  if (manifest.tables) return manifest.tables;
  if (!manifest.row_counts) return undefined;
  return Object.entries(manifest.row_counts).map(([key, rows]) => {
    const dot = key.indexOf('.');
    return { schema: key.slice(0, dot), name: key.slice(dot + 1), rows };
  });
}

/**
 * Compares a restored database with the manifest: schema object counts by kind and, when the dump's
 * snapshot was counted exactly, every table's row count. Returns the differences (none = passed).
 */
export function compareWithManifest(
  manifest: BackupManifest,
  restored: SnapshotCounts,
): { problems: string[]; check: RestoreCheck } {
  const problems: string[] = [];
  const rows = restored.tables.reduce((sum, table) => sum + table.rows, 0);
  const check: RestoreCheck = {
    rowCounts: 'skipped',
    schemaObjects: 'skipped',
    tables: restored.tables.length,
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
  const expected = expectedTables(manifest);
  if (expected && manifest.row_counts_source !== 'none' && manifest.row_counts_source !== undefined) {
    const exact = manifest.row_counts_source === 'snapshot';
    check.rowCounts = exact ? 'matched' : 'tables-only';
    // Older manifests joined schema and name with a dot; their restored side is keyed the same way.
    const keyOf = manifest.tables
      ? (table: { schema: string; name: string }) => tableKey(table.schema, table.name)
      : (table: { schema: string; name: string }) => `${table.schema}.${table.name}`;
    const actual = new Map(restored.tables.map((table) => [keyOf(table), table.rows]));
    for (const table of expected) {
      const rowsAfter = actual.get(keyOf(table));
      if (rowsAfter === undefined) problems.push(`table ${qualifiedName(table)} is missing after restore`);
      else if (exact && rowsAfter !== table.rows) {
        problems.push(
          `table ${qualifiedName(table)}: ${table.rows} rows in the backup's snapshot, ${rowsAfter} after restore`,
        );
      }
    }
    if (exact) {
      const known = new Set(expected.map(keyOf));
      for (const table of restored.tables) {
        if (!known.has(keyOf(table)))
          problems.push(`table ${qualifiedName(table)} is not in the backup's snapshot`);
      }
    }
  }
  if (problems.length > 0) {
    if (check.rowCounts === 'matched') check.rowCounts = 'skipped';
    if (check.schemaObjects === 'matched') check.schemaObjects = 'skipped';
  }
  return { problems, check };
}
