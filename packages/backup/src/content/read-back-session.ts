import { scrubSecrets } from '@warden/errors';
import { type ConnectionParams, libpqEnv } from '../postgres/connection.js';
import { spawnPsql } from '../postgres/psql-process.js';
import { withLargeOutputBuffer } from '../streams/output-buffer.js';
import { createTailBuffer, STDERR_TAIL_BYTES } from '../streams/tail-buffer.js';
import { createCopyReadbackScanner } from './dump-content.js';
import type { RowDigest } from './row-digest.js';

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

export interface ReadBackSessionOptions {
  params: ConnectionParams;
  psqlPath: string;
  /** Ends the session (psql is killed). */
  signal: AbortSignal;
  /** Scrubbed from psql's error output. */
  secrets: readonly string[];
  /** The dump's client encoding (the manifest's `content.encoding`). */
  encoding?: string;
}

/** One psql session that runs `COPY … TO STDOUT` statements one after another, as they come. */
export interface ReadBackSession {
  /** Runs one COPY; resolves with the digest of the lines it wrote, rejects when the session fails. */
  read(copyStatement: string): Promise<RowDigest>;
  /** Ends the session; resolves with why it failed, if it did. */
  close(): Promise<string | undefined>;
}

/**
 * Starts psql in pg_dump's session settings. Each COPY is written to psql's input between two
 * marker `SELECT`s, and psql flushes its output after every statement, so the second marker says
 * the COPY's lines have all arrived: the session can be given its next table while others load.
 */
export async function openReadBackSession(options: ReadBackSessionOptions): Promise<ReadBackSession> {
  const command = await withLargeOutputBuffer(options.psqlPath, ['-X', '-q', '-A', '-t', '--no-password']);
  const psql = spawnPsql(
    command.file,
    command.args,
    libpqEnv(options.params, 'warden-restore-check'),
    options.signal,
  );
  const waiting: { resolve: (digest: RowDigest) => void; reject: (error: Error) => void }[] = [];
  const scanner = createCopyReadbackScanner((digest) => waiting.shift()?.resolve(digest));
  const stderr = createTailBuffer(STDERR_TAIL_BYTES);
  psql.stdout.on('data', (chunk: Buffer) => scanner.write(chunk));
  psql.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  psql.stdin.on('error', () => undefined);
  let ended = false;
  const exited = psql.then((result) => {
    ended = true;
    scanner.finish();
    const detail = scrubSecrets(stderr.text().trim(), options.secrets);
    const problem =
      result.failed || waiting.length > 0
        ? `reading the restored tables back failed (psql ${result.exitCode ?? result.signal ?? 'ended early'}): ${detail}`
        : undefined;
    for (const pending of waiting.splice(0)) pending.reject(new Error(problem));
    return problem;
  });
  psql.stdin.write(
    [
      '\\set ON_ERROR_STOP 1',
      ...[...PG_DUMP_SESSION, encodingStatement(options.encoding)].map((statement) => `${statement};`),
      '',
    ].join('\n'),
  );
  return {
    read(copyStatement) {
      return new Promise<RowDigest>((resolve, reject) => {
        if (ended) {
          reject(new Error('reading the restored tables back failed: psql ended'));
          return;
        }
        waiting.push({ resolve, reject });
        psql.stdin.write(`SELECT '\\.warden begin';\n${copyStatement}\nSELECT '\\.warden end';\n`);
      });
    },
    close() {
      psql.stdin.end();
      return exited;
    },
  };
}
