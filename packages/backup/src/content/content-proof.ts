import type { BackupManifest, ContentProof, SequenceValue, TableRowCount } from '@warden/catalog';
import { pgClientConfig } from '@warden/names';
import pg from 'pg';
import type { ConnectionParams } from '../postgres/connection.js';
import { readLargeObjects } from './database-facts.js';
import {
  applyDatabaseProperties,
  compareDatabaseProperties,
  readDatabaseProperties,
} from './database-properties.js';
import { decodesExactly, tableKey } from './dump-content.js';
import { readBackTables } from './read-back.js';
import { compareWithManifest, qualifiedName, type RestoreCheck } from './restore-check.js';
import { ROW_DIGEST_ALGORITHM } from './row-digest.js';
import { countRows, schemaObjectCounts, userTables } from './snapshot.js';

export interface ContentCheckOptions {
  manifest: BackupManifest;
  /** The restored database's connection (same server as the restore). */
  url: string;
  params: ConnectionParams;
  psqlPath: string;
  signal: AbortSignal;
  /** Scrubbed from error output. @defaultValue none */
  secrets?: readonly string[];
}

export type ContentCheck = RestoreCheck;

function majorOf(version: string): number {
  return Number.parseInt(version, 10);
}

/** Why the tables are not read back and digested (`undefined`: they are). */
function contentSkipped(
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

/**
 * Proves a restored database against the manifest: schema object counts and every table's row
 * count; then, when they agree, the recorded database properties (applied first when the dump does
 * not carry them), every table's data digest, every sequence and the large objects. The tables are
 * read back with `COPY … TO STDOUT` in pg_dump's session and digested like the dump was; that
 * read-back counts their rows too, so only tables the dump holds no data for are counted
 * separately. Returns the differences, each naming the table or object.
 */
export async function checkRestoredContent(
  options: ContentCheckOptions,
): Promise<{ problems: string[]; check: RestoreCheck }> {
  const { manifest } = options;
  const client = new pg.Client({
    ...pgClientConfig(options.url),
    connectionTimeoutMillis: 10_000,
    application_name: 'warden-restore-check',
  });
  client.on('error', () => undefined);
  await client.connect();
  try {
    // The restored database's own settings apply to this session now (its dump gave them): a
    // timeout meant for the application must not cut the proof short.
    await client.query('SET statement_timeout = 0; SET lock_timeout = 0');
    const { rows } = await client.query<{ version: string; number: string }>(
      "SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS number",
    );
    const skipped = contentSkipped(manifest, majorOf(rows[0]?.version ?? ''));
    const listed = await userTables(client);
    const pages = new Map(listed.map((table) => [tableKey(table.schema, table.name), table.pages]));
    const present = new Set(pages.keys());
    // A recorded table missing after restore is named by the counts below, not by a failed COPY.
    const readable =
      skipped === undefined
        ? (manifest.content as ContentProof).tables.filter((table) =>
            present.has(tableKey(table.schema, table.name)),
          )
        : [];
    const readingBack = readBackTables(
      readable.map((table) => ({ ...table, pages: pages.get(tableKey(table.schema, table.name)) ?? 0 })),
      {
        params: options.params,
        psqlPath: options.psqlPath,
        signal: options.signal,
        secrets: options.secrets ?? [],
        tidRanges: Number(rows[0]?.number ?? 0) >= 140000,
        ...(manifest.content?.encoding === undefined ? {} : { encoding: manifest.content.encoding }),
      },
    );
    // Awaited below; meanwhile the counts run on this connection.
    readingBack.catch(() => undefined);
    const covered = new Set(readable.map((table) => tableKey(table.schema, table.name)));
    const schemaObjects = await schemaObjectCounts(client);
    const counted = await countRows(
      client,
      listed.filter((table) => !covered.has(tableKey(table.schema, table.name))),
    );
    const readBack = await readingBack;
    if (!readBack.ok) {
      return {
        problems: [readBack.problem],
        check: { rowCounts: 'skipped', schemaObjects: 'skipped', tables: listed.length, rows: 0 },
      };
    }
    const rowsOf = new Map<string, number>(
      counted.map((table) => [tableKey(table.schema, table.name), table.rows]),
    );
    readable.forEach((table, index) => {
      rowsOf.set(tableKey(table.schema, table.name), readBack.tables[index]?.rows ?? 0);
    });
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
    if (skipped !== undefined) return { problems, check: { ...check, ...skipped } };

    const content = manifest.content as ContentProof;
    const before = problems.length;
    problems.push(...compareDigests(content, readable, readBack.tables, present));
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
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Each recorded table's digest against its read-back (rows too: the manifest may lack exact counts). */
function compareDigests(
  content: ContentProof,
  readable: ContentProof['tables'],
  readBack: readonly { rows: number; digest: string }[],
  present: ReadonlySet<string>,
): string[] {
  const problems: string[] = [];
  for (const table of content.tables) {
    if (!present.has(tableKey(table.schema, table.name))) {
      problems.push(`table ${qualifiedName(table)} is missing after restore`);
    }
  }
  readable.forEach((table, index) => {
    const after = readBack[index] as { rows: number; digest: string };
    if (after.rows !== table.rows) {
      problems.push(
        `table ${qualifiedName(table)}: ${table.rows} rows in the backup, ${after.rows} after restore`,
      );
    } else if (after.digest !== table.digest) {
      problems.push(
        `table ${qualifiedName(table)}: data differs from the backup (same ${table.rows} rows, digest ${after.digest} instead of ${table.digest})`,
      );
    }
  });
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
