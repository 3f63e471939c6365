import type { TableDigest } from '@warden/catalog';
import { scrubSecrets } from '@warden/errors';
import { execa } from 'execa';
import { type ConnectionParams, libpqEnv, quoteIdent } from '../postgres/connection.js';
import { withLargeOutputBuffer } from '../streams/output-buffer.js';
import { createTailBuffer, STDERR_TAIL_BYTES } from '../streams/tail-buffer.js';
import { createCopyReadbackScanner } from './dump-content.js';
import { createRowDigest, formatRowDigest, mergeRowDigest, type RowDigest } from './row-digest.js';

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
];

/** The dump's encoding, or for a manifest that does not record it the database's (pg_dump's default). */
function encodingStatement(encoding: string | undefined): string {
  return encoding === undefined
    ? "SELECT pg_catalog.set_config('client_encoding', pg_catalog.pg_encoding_to_char(encoding), false) FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()"
    : `SET client_encoding = '${encoding.replace(/[^A-Za-z0-9_]/g, '')}'`;
}

/**
 * An identifier in ASCII only (`U&"T\00E2ble"` for `Tâble`): the script is then the same bytes in
 * whatever client encoding the read-back runs in.
 */
export function asciiIdent(name: string): string {
  const quoted = quoteIdent(name);
  if (/^[\x20-\x7e]*$/.test(name)) return quoted;
  let escaped = '';
  for (const char of quoted.slice(1, -1)) {
    const code = char.codePointAt(0) as number;
    if (char === '\\') escaped += '\\\\';
    else if (code >= 0x20 && code <= 0x7e) escaped += char;
    else if (code <= 0xffff) escaped += `\\${code.toString(16).padStart(4, '0')}`;
    else escaped += `\\+${code.toString(16).padStart(6, '0')}`;
  }
  return `U&"${escaped}"`;
}

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
  /** The dump's client encoding (the manifest's `content.encoding`). */
  encoding?: string;
  /**
   * The server reads a range of pages by itself (TID range scans, PostgreSQL 14+): a big table
   * is then read in pieces, by several sessions. @defaultValue false
   */
  tidRanges?: boolean;
}

export interface ReadBackTable extends Pick<TableDigest, 'schema' | 'name' | 'columns'> {
  /** Size in pages (0 when unknown): how the work is shared out. */
  pages: number;
}

export type ReadBack =
  | { ok: true; tables: { rows: number; digest: string }[] }
  | { ok: false; problem: string };

/** One COPY: a whole table, or the pages `[from, to)` of it (`to` undefined: to its end). */
export interface Piece {
  table: number;
  from?: number;
  to?: number;
  weight: number;
}

/**
 * The COPYs to run: whole tables, and tables bigger than a share of the total in page ranges, so
 * no session is left reading one big table while the others are done.
 */
export function piecesOf(tables: readonly ReadBackTable[], sessions: number, tidRanges: boolean): Piece[] {
  const totalPages = tables.reduce((sum, table) => sum + table.pages, 0);
  const share = Math.ceil(totalPages / (sessions * 2));
  const pieces: Piece[] = [];
  tables.forEach((table, index) => {
    if (!tidRanges || share < 64 || table.pages <= share) {
      // A table costs a statement even when empty.
      pieces.push({ table: index, weight: table.pages + 1 });
      return;
    }
    const count = Math.ceil(table.pages / share);
    for (let part = 0; part < count; part++) {
      const from = part * share;
      pieces.push({
        table: index,
        ...(part === 0 ? {} : { from }),
        ...(part === count - 1 ? {} : { to: from + share }),
        weight: Math.min(share, table.pages - from) + 1,
      });
    }
  });
  return pieces;
}

/** Shares the pieces out into `count` groups of about equal weight, heaviest first. */
function balance(pieces: Piece[], count: number): Piece[][] {
  const groups = Array.from({ length: Math.min(count, pieces.length) }, () => ({
    weight: 0,
    members: [] as Piece[],
  }));
  for (const piece of [...pieces].sort((a, b) => b.weight - a.weight)) {
    let lightest = groups[0] as (typeof groups)[number];
    for (const group of groups) if (group.weight < lightest.weight) lightest = group;
    lightest.members.push(piece);
    lightest.weight += piece.weight;
  }
  return groups.map((group) => group.members);
}

/**
 * How the script writes a name: as it is when the session reads the script as UTF-8 (what
 * execa writes), else in ASCII. The server converts a Unicode escape one code point at a time,
 * so a name whose character is a pair of code points in the restored database's encoding (JIS X
 * 0213's `か゚` in EUC_JIS_2004) cannot be escaped.
 */
function identQuoter(encoding: string | undefined): (name: string) => string {
  return encoding?.toUpperCase() === 'UTF8' ? quoteIdent : asciiIdent;
}

function copyStatement(table: ReadBackTable, piece: Piece, ident: (name: string) => string): string {
  const columns = table.columns.map(ident).join(', ');
  const qualified = `${ident(table.schema)}.${ident(table.name)}`;
  if (piece.from === undefined && piece.to === undefined) {
    return `COPY ${qualified}${columns ? ` (${columns})` : ''} TO STDOUT;`;
  }
  // ONLY: a COPY of a table reads no inheritance children either.
  const bounds = [
    piece.from === undefined ? '' : `ctid >= '(${piece.from},0)'::tid`,
    piece.to === undefined ? '' : `ctid < '(${piece.to},0)'::tid`,
  ].filter(Boolean);
  return `COPY (SELECT ${columns} FROM ONLY ${qualified} WHERE ${bounds.join(' AND ')}) TO STDOUT;`;
}

/**
 * Reads the tables back with `COPY … TO STDOUT` in pg_dump's session, over a few psql sessions at
 * once, and digests each table's lines like the dump's were digested (the digest is a sum, so a
 * table read in pieces adds up to the same). Results are in the order of `tables`.
 */
export async function readBackTables(
  tables: readonly ReadBackTable[],
  options: ReadBackOptions,
): Promise<ReadBack> {
  if (tables.length === 0) return { ok: true, tables: [] };
  const digests = tables.map(() => createRowDigest());
  const groups = balance(
    piecesOf(tables, READ_BACK_SESSIONS, options.tidRanges ?? false),
    READ_BACK_SESSIONS,
  );
  const ident = identQuoter(options.encoding);
  const sessions = await Promise.all(
    groups.map(async (members) => {
      const script = [
        '\\set ON_ERROR_STOP 1',
        ...[...PG_DUMP_SESSION, encodingStatement(options.encoding)].map((statement) => `${statement};`),
        ...members.flatMap((piece, position) => [
          `SELECT '\\.warden ${position}';`,
          copyStatement(tables[piece.table] as ReadBackTable, piece, ident),
        ]),
      ].join('\n');
      const scanner = createCopyReadbackScanner(members.length);
      const stderr = createTailBuffer(STDERR_TAIL_BYTES);
      const command = await withLargeOutputBuffer(options.psqlPath, [
        '-X',
        '-q',
        '-A',
        '-t',
        '--no-password',
      ]);
      const psql = execa(command.file, command.args, {
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
        mergeRowDigest(digests[(members[position] as Piece).table] as RowDigest, digest);
      });
      return undefined;
    }),
  );
  const problem = sessions.find((failure) => failure !== undefined);
  if (problem !== undefined) return { ok: false, problem };
  return {
    ok: true,
    tables: digests.map((digest) => ({ rows: digest.rows, digest: formatRowDigest(digest) })),
  };
}
