import type { TableDigest } from '@warden/catalog';
import { scrubSecrets } from '@warden/errors';
import { execa } from 'execa';
import { type ConnectionParams, libpqEnv, quoteIdent } from '../postgres/connection.js';
import { createTailBuffer, STDERR_TAIL_BYTES } from '../streams/tail-buffer.js';
import { createCopyReadbackScanner } from './dump-content.js';
import { qualifiedName } from './restore-check.js';

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

/**
 * psql sessions reading tables back at once. The server turns rows into COPY text (most of the
 * work), psql relays it, this process hashes it: a few sessions keep two cores busy, more only
 * queue behind each other.
 */
export const READ_BACK_SESSIONS = 3;

export interface ReadBackOptions {
  params: ConnectionParams;
  psqlPath: string;
  signal: AbortSignal;
  /** Scrubbed from psql's error output. */
  secrets: readonly string[];
}

export type ReadBack =
  | { ok: true; tables: { rows: number; digest: string }[] }
  | { ok: false; problem: string };

/** Splits the tables into `count` groups of about equal rows, biggest first; indexes into `tables`. */
function balance(tables: readonly Pick<TableDigest, 'rows'>[], count: number): number[][] {
  const groups = Array.from({ length: Math.min(count, tables.length) }, () => ({
    rows: 0,
    members: [] as number[],
  }));
  const order = tables
    .map((_, index) => index)
    .sort((a, b) => (tables[b]?.rows ?? 0) - (tables[a]?.rows ?? 0));
  for (const index of order) {
    let lightest = groups[0] as (typeof groups)[number];
    for (const group of groups) if (group.rows < lightest.rows) lightest = group;
    lightest.members.push(index);
    // A table costs a statement even when empty.
    lightest.rows += (tables[index]?.rows ?? 0) + 1;
  }
  return groups.map((group) => group.members.sort((a, b) => a - b));
}

/**
 * Reads the tables back with `COPY <table> (<columns>) TO STDOUT` in pg_dump's session, over a few
 * psql sessions at once, and digests each table's lines like the dump's were digested. Results are
 * in the order of `tables`.
 */
export async function readBackTables(
  tables: readonly Pick<TableDigest, 'schema' | 'name' | 'columns' | 'rows'>[],
  options: ReadBackOptions,
): Promise<ReadBack> {
  if (tables.length === 0) return { ok: true, tables: [] };
  const results: { rows: number; digest: string }[] = new Array(tables.length);
  const sessions = await Promise.all(
    balance(tables, READ_BACK_SESSIONS).map(async (members) => {
      const script = [
        '\\set ON_ERROR_STOP 1',
        ...PG_DUMP_SESSION.map((statement) => `${statement};`),
        ...members.flatMap((index, position) => {
          const table = tables[index] as (typeof tables)[number];
          return [
            `SELECT '\\.warden ${position}';`,
            `COPY ${qualifiedName(table)}${table.columns.length > 0 ? ` (${table.columns.map(quoteIdent).join(', ')})` : ''} TO STDOUT;`,
          ];
        }),
      ].join('\n');
      const scanner = createCopyReadbackScanner(members.length);
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
        const detail = scrubSecrets(stderr.text().trim(), options.secrets);
        return `reading the restored tables back failed (psql ${result.exitCode ?? result.signal}): ${detail}`;
      }
      scanner.finish().forEach((digest, position) => {
        results[members[position] as number] = digest;
      });
      return undefined;
    }),
  );
  const problem = sessions.find((failure) => failure !== undefined);
  return problem === undefined ? { ok: true, tables: results } : { ok: false, problem };
}
