import type { BackupManifest, ContentProof, SequenceValue } from '@warden/catalog';
import { scrubSecrets } from '@warden/errors';
import { pgClientConfig } from '@warden/names';
import { execa } from 'execa';
import pg from 'pg';
import { type ConnectionParams, connectionSecrets, libpqEnv, quoteIdent } from '../postgres/connection.js';
import { createTailBuffer, STDERR_TAIL_BYTES } from '../streams/tail-buffer.js';
import {
  applyDatabaseProperties,
  compareDatabaseProperties,
  readDatabaseProperties,
  readLargeObjects,
} from './database-facts.js';
import { createCopyReadbackScanner } from './dump-content.js';
import type { RestoreCheck } from './restore-check.js';
import { qualifiedName } from './restore-check.js';
import { ROW_DIGEST_ALGORITHM } from './row-digest.js';

/**
 * The session pg_dump reads its data in (pg_backup_db.c / pg_dump.c setup_connection), so COPY
 * writes the same text for the same data. TimeZone is not set by pg_dump either: both inherit
 * the same server default or PGTZ.
 */
const PG_DUMP_SESSION = [
  'SET DateStyle = ISO',
  'SET IntervalStyle = postgres',
  'SET extra_float_digits = 3',
  'SET synchronize_seqscans = off',
  'SET statement_timeout = 0',
  'SET lock_timeout = 0',
  'SET row_security = off',
  "SELECT pg_catalog.set_config('search_path', '', false)",
  // pg_dump writes in the database's encoding unless told otherwise.
  "SELECT pg_catalog.set_config('client_encoding', pg_catalog.pg_encoding_to_char(encoding), false) FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()",
];

export interface ContentCheckOptions {
  manifest: BackupManifest;
  /** The restored database's connection (same server as the restore). */
  url: string;
  params: ConnectionParams;
  /** Name of the restored database (for `ALTER DATABASE`). */
  database: string;
  psqlPath: string;
  signal: AbortSignal;
}

export type ContentCheck = Pick<RestoreCheck, 'content' | 'contentNote' | 'properties'>;

function majorOf(version: string): number {
  return Number.parseInt(version, 10);
}

/**
 * Re-applies the recorded database properties to the restored database, then proves its content
 * against the manifest: every table's rows read back with `COPY … TO STDOUT` in pg_dump's session
 * settings and digested like the dump was, every sequence, the large objects and the properties.
 * Returns the differences, each naming the table or object.
 */
export async function checkRestoredContent(
  options: ContentCheckOptions,
): Promise<{ problems: string[]; check: ContentCheck }> {
  const { manifest } = options;
  const client = new pg.Client({
    ...pgClientConfig(options.url),
    connectionTimeoutMillis: 10_000,
    application_name: 'warden-restore-check',
  });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const problems: string[] = [];
    const check: ContentCheck = {};
    if (manifest.database_properties) {
      // Failures show up below as missing settings, named.
      await applyDatabaseProperties(client, options.database, manifest.database_properties);
      const restored = await readDatabaseProperties(client);
      const differences = compareDatabaseProperties(manifest.database_properties, restored);
      problems.push(...differences);
      check.properties = differences.length === 0 ? 'matched' : 'skipped';
    } else {
      check.properties = 'skipped';
    }

    const content = manifest.content;
    if (content === undefined || content.version !== 1 || content.algorithm !== ROW_DIGEST_ALGORITHM) {
      check.content = 'skipped';
      check.contentNote =
        content === undefined
          ? 'the backup has no content digests (made by an older Warden); row counts are the proof'
          : `content proof version ${content.version} (${content.algorithm}) is unknown here; row counts are the proof`;
      return { problems, check };
    }
    const { rows } = await client.query<{ version: string }>(
      "SELECT current_setting('server_version') AS version",
    );
    const restoredMajor = majorOf(rows[0]?.version ?? '');
    const dumpedMajor = majorOf(manifest.server_version);
    if (restoredMajor !== dumpedMajor) {
      check.content = 'counts-only';
      check.contentNote = `the backup was made on PostgreSQL ${dumpedMajor} and restored on ${restoredMajor}, where data may be written differently; row counts are the proof`;
      return { problems, check };
    }
    const before = problems.length;
    problems.push(...(await compareTables(content, options)));
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

/** Reads every recorded table back through one psql (COPY text, as pg_dump wrote it) and compares. */
async function compareTables(content: ContentProof, options: ContentCheckOptions): Promise<string[]> {
  const tables = content.tables;
  if (tables.length === 0) return [];
  const script = [
    '\\set ON_ERROR_STOP 1',
    ...PG_DUMP_SESSION.map((statement) => `${statement};`),
    ...tables.flatMap((table, index) => [
      `SELECT '\\.warden ${index}';`,
      `COPY ${qualifiedName(table)}${table.columns.length > 0 ? ` (${table.columns.map(quoteIdent).join(', ')})` : ''} TO STDOUT;`,
    ]),
  ].join('\n');
  const scanner = createCopyReadbackScanner(tables.length);
  const stderr = createTailBuffer(STDERR_TAIL_BYTES);
  const psql = execa(options.psqlPath, ['-X', '-q', '-A', '-t', '--no-password'], {
    env: libpqEnv(options.params, 'warden-restore-check'),
    input: script,
    buffer: false,
    stdout: 'pipe',
    stderr: 'pipe',
    reject: false,
    cancelSignal: options.signal,
  });
  psql.stdout.on('data', (chunk: Buffer) => scanner.write(chunk));
  psql.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  const result = await psql;
  if (result.failed) {
    const detail = scrubSecrets(stderr.text().trim(), connectionSecrets(options.url));
    return [`reading the restored tables back failed (psql ${result.exitCode ?? result.signal}): ${detail}`];
  }
  const restored = scanner.finish();
  const problems: string[] = [];
  tables.forEach((table, index) => {
    const after = restored[index] as { rows: number; digest: string };
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
