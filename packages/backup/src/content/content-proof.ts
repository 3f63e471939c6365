import type {
  BackupManifest,
  ContentProof,
  SequenceValue,
  TableDigest,
  TableRowCount,
} from '@warden/catalog';
import type pg from 'pg';
import { compareDatabaseLocale, readDatabaseLocale } from '../postgres/database-locale.js';
import { readLargeObjects } from './database-facts.js';
import {
  applyDatabaseProperties,
  compareDatabaseProperties,
  readDatabaseProperties,
} from './database-properties.js';
import { decodesExactly, tableKey } from './dump-content.js';
import { READ_BACK_SESSIONS, type ReadBack, type ReadBackPool, type TableToRead } from './read-back.js';
import { compareWithManifest, qualifiedName, type RestoreCheck } from './restore-check.js';
import { ROW_DIGEST_ALGORITHM } from './row-digest.js';
import { countRows, schemaObjectCounts, userTables } from './snapshot.js';

export interface ServerFacts {
  major: number;
  /** `server_version_num`. */
  versionNum: number;
  /** TID range scans (PostgreSQL 14+). */
  tidRanges: boolean;
}

/** The read-back as it stands after the load: the digest of each recorded table by its index. */
type TableReads = Map<number, { rows: number; digest: string }>;

function differsFromDump(table: TableDigest, read: { rows: number; digest: string } | undefined): boolean {
  return read === undefined || read.rows !== table.rows || read.digest !== table.digest;
}

export function majorOf(version: string): number {
  return Number.parseInt(version, 10);
}

/** Why the tables are not read back and digested (`undefined`: they are). */
export function contentSkipped(
  manifest: BackupManifest,
  restoredMajor: number,
): Pick<RestoreCheck, 'content' | 'contentNote'> | undefined {
  const content = manifest.content;
  if (content === undefined || content.version !== 1 || content.algorithm !== ROW_DIGEST_ALGORITHM) {
    return {
      content: 'skipped',
      contentNote:
        content === undefined
          ? 'the backup has no content digests (made by an older Warden); row counts are the proof'
          : `content proof version ${content.version} (${content.algorithm}) is unknown here; row counts are the proof`,
    };
  }
  if (content.encoding !== undefined && !decodesExactly(content.encoding)) {
    // The recorded names may not be the restored ones: a missing table would be no proof of anything.
    return {
      content: 'counts-only',
      contentNote: `the dump is in ${content.encoding}, whose table and sequence names Warden does not read exactly (a backup by an older Warden, or from a server with a role, tablespace or database name not convertible to UTF-8); row counts are the proof`,
    };
  }
  const dumpedMajor = majorOf(manifest.server_version);
  if (restoredMajor === dumpedMajor) return undefined;
  return {
    content: 'counts-only',
    contentNote: `the backup was made on PostgreSQL ${dumpedMajor} and restored on ${restoredMajor}, where data may be written differently; row counts are the proof`,
  };
}

/** Read-back sessions while psql is still loading: the load is what the restore waits for. */
export interface ReadPlan {
  /** The pool that read tables during the load, when its reads count. */
  early: ReadBackPool | undefined;
  /** The tables it was given. */
  readEarly: ReadonlySet<number>;
  readAll(tables: readonly TableToRead[], tidRanges: boolean): Promise<ReadBack>;
}

/**
 * Reads back the recorded tables present that the early pool has not read yet, with every session;
 * a table read early that differs from the dump is read once more, and all of them are when the
 * early pool failed.
 */
async function readBack(
  toRead: readonly TableToRead[],
  recorded: readonly TableDigest[],
  tidRanges: boolean,
  plan: ReadPlan,
): Promise<ReadBack> {
  if (plan.early === undefined) return plan.readAll(toRead, tidRanges);
  plan.early.add(toRead.filter((table) => !plan.readEarly.has(table.index)));
  plan.early.widen(READ_BACK_SESSIONS);
  const read = await plan.early.finish();
  if (!read.ok) return plan.readAll(toRead, tidRanges);
  const again = toRead.filter(
    (table) =>
      plan.readEarly.has(table.index) &&
      differsFromDump(recorded[table.index] as TableDigest, read.tables.get(table.index)),
  );
  if (again.length === 0) return read;
  const reread = await plan.readAll(again, tidRanges);
  if (!reread.ok) return reread;
  for (const [index, table] of reread.tables) read.tables.set(index, table);
  return read;
}

export async function proveContent(
  client: pg.Client,
  server: ServerFacts,
  manifest: BackupManifest,
  plan: ReadPlan,
  localeNote: string | undefined,
): Promise<{ problems: string[]; check: RestoreCheck }> {
  const skipped = contentSkipped(manifest, server.major);
  const listed = await userTables(client);
  const pages = new Map(listed.map((table) => [tableKey(table.schema, table.name), table.pages]));
  const present = new Set(pages.keys());
  const recorded = manifest.content?.tables ?? [];
  // A recorded table missing after restore is named by the counts below, not by a failed COPY.
  const readable: TableToRead[] =
    skipped === undefined
      ? recorded.flatMap((table, index) => {
          const key = tableKey(table.schema, table.name);
          return present.has(key) ? [{ index, pages: pages.get(key) ?? 0 }] : [];
        })
      : [];
  const readingBack = readBack(readable, recorded, server.tidRanges, plan);
  // Awaited below; meanwhile the counts run on this connection.
  readingBack.catch(() => undefined);
  const covered = new Set(
    readable.map(({ index }) =>
      tableKey((recorded[index] as TableDigest).schema, (recorded[index] as TableDigest).name),
    ),
  );
  const schemaObjects = await schemaObjectCounts(client);
  const counted = await countRows(
    client,
    listed.filter((table) => !covered.has(tableKey(table.schema, table.name))),
  );
  const read = await readingBack;
  if (!read.ok) {
    return {
      problems: [read.problem],
      check: { rowCounts: 'skipped', schemaObjects: 'skipped', tables: listed.length, rows: 0 },
    };
  }
  const rowsOf = new Map<string, number>(
    counted.map((table) => [tableKey(table.schema, table.name), table.rows]),
  );
  for (const { index } of readable) {
    const table = recorded[index] as TableDigest;
    rowsOf.set(tableKey(table.schema, table.name), read.tables.get(index)?.rows ?? 0);
  }
  const tables: TableRowCount[] = listed.map(({ schema, name }) => ({
    schema,
    name,
    rows: rowsOf.get(tableKey(schema, name)) ?? 0,
  }));
  const { problems, check } = compareWithManifest(manifest, {
    tables,
    rowCountsSource: 'snapshot',
    schemaObjects,
  });
  // Content differences only mean something once the counts agree.
  if (problems.length > 0) return { problems, check };

  if (manifest.database_properties) {
    // A dump that carries them gave them as psql replayed it: what its section lacks, or what
    // failed there (a WARNING), shows up below as missing, named. An older one's come from here.
    if (manifest.database_properties_in_dump !== true) {
      await applyDatabaseProperties(client, manifest.database_properties);
    }
    const restored = await readDatabaseProperties(client);
    const differences = compareDatabaseProperties(manifest.database_properties, restored);
    problems.push(...differences);
    check.properties = differences.length === 0 ? 'matched' : 'skipped';
  } else {
    check.properties = 'skipped';
  }
  if (manifest.database_locale === undefined) {
    check.locale = 'skipped';
  } else if (localeNote !== undefined) {
    check.locale = 'server-default';
    check.localeNote = localeNote;
  } else {
    const differences = compareDatabaseLocale(
      manifest.database_locale,
      await readDatabaseLocale(client, server.versionNum),
    );
    problems.push(...differences);
    check.locale = differences.length === 0 ? 'matched' : 'skipped';
  }
  if (skipped !== undefined) return { problems, check: { ...check, ...skipped } };

  const content = manifest.content as ContentProof;
  const before = problems.length;
  problems.push(...compareDigests(content, readable, read.tables, present));
  problems.push(...(await compareSequences(client, content.sequences)));
  if (content.large_objects) {
    const restored = await readLargeObjects(client);
    if (restored.count !== content.large_objects.count) {
      problems.push(
        `large objects: ${content.large_objects.count} in the backup, ${restored.count} after restore`,
      );
    } else if (restored.digest !== content.large_objects.digest) {
      problems.push(
        `large objects: contents differ from the backup (${await differingLargeObjects(client, content)})`,
      );
    }
  }
  check.content = problems.length === before ? 'matched' : 'skipped';
  return { problems, check };
}

/** Each recorded table's digest against its read-back (rows too: the manifest may lack exact counts). */
function compareDigests(
  content: ContentProof,
  readable: readonly TableToRead[],
  read: TableReads,
  present: ReadonlySet<string>,
): string[] {
  const problems: string[] = [];
  for (const table of content.tables) {
    if (!present.has(tableKey(table.schema, table.name))) {
      problems.push(`table ${qualifiedName(table)} is missing after restore`);
    }
  }
  for (const { index } of readable) {
    const table = content.tables[index] as TableDigest;
    const after = read.get(index) ?? { rows: 0, digest: '' };
    if (after.rows !== table.rows) {
      problems.push(
        `table ${qualifiedName(table)}: ${table.rows} rows in the backup, ${after.rows} after restore`,
      );
    } else if (after.digest !== table.digest) {
      problems.push(
        `table ${qualifiedName(table)}: data differs from the backup (same ${table.rows} rows, digest ${after.digest} instead of ${table.digest})`,
      );
    }
  }
  return problems;
}

/** Which large objects differ is not recorded per object; name the empty ones, the usual corruption. */
async function differingLargeObjects(client: pg.Client, _content: ContentProof): Promise<string> {
  const { rows } = await client.query<{ oid: string }>(
    'SELECT m.oid::text AS oid FROM pg_largeobject_metadata m WHERE length(lo_get(m.oid)) = 0 ORDER BY 1 LIMIT 5',
  );
  return rows.length > 0
    ? `empty after restore: OID ${rows.map((row) => row.oid).join(', ')}`
    : 'digest mismatch';
}

async function compareSequences(client: pg.Client, sequences: readonly SequenceValue[]): Promise<string[]> {
  const problems: string[] = [];
  const batch = 200;
  for (let at = 0; at < sequences.length; at += batch) {
    const slice = sequences.slice(at, at + batch);
    const sql = slice
      .map(
        (sequence, index) =>
          `SELECT ${index} AS i, last_value::text AS value, is_called FROM ${qualifiedName(sequence)}`,
      )
      .join(' UNION ALL ');
    let rows: { i: number; value: string; is_called: boolean }[];
    try {
      rows = (await client.query<{ i: number; value: string; is_called: boolean }>(sql)).rows;
    } catch (error) {
      problems.push(
        `sequences: cannot be read after restore: ${error instanceof Error ? error.message : String(error)}`,
      );
      continue;
    }
    for (const row of rows) {
      const sequence = slice[row.i] as SequenceValue;
      if (row.value !== sequence.value || row.is_called !== sequence.is_called) {
        problems.push(
          `sequence ${qualifiedName(sequence)}: ${sequence.value}${sequence.is_called ? '' : ' (not called)'} in the backup, ${row.value}${row.is_called ? '' : ' (not called)'} after restore`,
        );
      }
    }
  }
  return problems;
}
