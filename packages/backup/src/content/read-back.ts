import type { TableDigest } from '@warden/catalog';
import { errorMessage } from '@warden/errors';
import { quoteIdent } from '../postgres/connection.js';
import {
  openReadBackSession,
  type ReadBackSession,
  type ReadBackSessionOptions,
} from './read-back-session.js';
import { createRowDigest, formatRowDigest, mergeRowDigest, type RowDigest } from './row-digest.js';

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
 * psql sessions reading tables back at once after the load. The server turns rows into COPY text
 * (most of the work), psql relays it, this process hashes it: a few sessions keep two cores busy,
 * more only queue behind each other.
 */
export const READ_BACK_SESSIONS = 3;

/** A table is read in page ranges only from this size on (1 MiB): a range costs a statement. */
const MIN_SPLIT_PAGES = 128;

export interface ReadBackOptions extends Omit<ReadBackSessionOptions, 'signal'> {
  signal: AbortSignal;
  /**
   * The server reads a range of pages by itself (TID range scans, PostgreSQL 14+): a big table
   * is then read in pieces, by several sessions. @defaultValue false
   */
  tidRanges?: boolean;
  /** Sessions that read at once until {@link ReadBackPool.widen}. @defaultValue READ_BACK_SESSIONS */
  sessions?: number;
}

export type ReadBackTable = Pick<TableDigest, 'schema' | 'name' | 'columns'>;

/** A table to read: its position in the pool's list and its size in pages (0 when unknown). */
export interface TableToRead {
  index: number;
  pages: number;
}

export type ReadBack =
  | { ok: true; tables: Map<number, { rows: number; digest: string }> }
  | { ok: false; problem: string };

/** One COPY: a whole table, or the pages `[from, to)` of it (`to` undefined: to its end). */
export interface Piece {
  table: number;
  from?: number;
  to?: number;
  weight: number;
}

/**
 * The COPYs to read these tables with: whole tables, and tables bigger than a share of their total
 * in page ranges, so no session is left reading one big table while the others are done.
 */
export function piecesOf(tables: readonly TableToRead[], sessions: number, tidRanges: boolean): Piece[] {
  const totalPages = tables.reduce((sum, table) => sum + table.pages, 0);
  const share = Math.max(MIN_SPLIT_PAGES, Math.ceil(totalPages / (sessions * 2)));
  const pieces: Piece[] = [];
  for (const table of tables) {
    if (!tidRanges || table.pages <= share) {
      // A table costs a statement even when empty.
      pieces.push({ table: table.index, weight: table.pages + 1 });
      continue;
    }
    const count = Math.ceil(table.pages / share);
    for (let part = 0; part < count; part++) {
      const from = part * share;
      pieces.push({
        table: table.index,
        ...(part === 0 ? {} : { from }),
        ...(part === count - 1 ? {} : { to: from + share }),
        weight: Math.min(share, table.pages - from) + 1,
      });
    }
  }
  return pieces;
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
 * Reads tables back with `COPY … TO STDOUT` in pg_dump's session as they are handed to it, so a
 * restore can have each table read while psql goes on loading the next. Each table's lines are
 * digested like the dump's were (the digest is a sum, so a table read in pieces adds up to the
 * same).
 */
export interface ReadBackPool {
  /** Reads these tables of the pool's list (each once), as sessions come free. */
  add(tables: readonly TableToRead[]): void;
  /** From now on up to `sessions` sessions read at once. */
  widen(sessions: number): void;
  /** Nothing more to add: resolves once every table added is read, or with the first failure. */
  finish(): Promise<ReadBack>;
  /** Stops every session; {@link finish} then resolves with a problem. */
  cancel(): void;
}

export function createReadBackPool(tables: readonly ReadBackTable[], options: ReadBackOptions): ReadBackPool {
  const stop = new AbortController();
  const onAbort = () => stop.abort(options.signal.reason);
  options.signal.addEventListener('abort', onAbort, { once: true });
  const digests = new Map<number, RowDigest>();
  const queue: Piece[] = [];
  const workers: Promise<void>[] = [];
  const wakeUp: (() => void)[] = [];
  let limit = options.sessions ?? READ_BACK_SESSIONS;
  let piecesAdded = 0;
  let closed = false;
  let problem: string | undefined;
  const ident = identQuoter(options.encoding);
  const wake = () => {
    for (const resume of wakeUp.splice(0)) resume();
  };
  const fail = (reason: string) => {
    problem ??= reason;
    stop.abort();
    wake();
  };
  const next = async (): Promise<Piece | undefined> => {
    for (;;) {
      if (problem !== undefined) return undefined;
      const piece = queue.shift();
      if (piece !== undefined || closed) return piece;
      await new Promise<void>((resume) => wakeUp.push(resume));
    }
  };
  const work = async () => {
    let session: ReadBackSession | undefined;
    try {
      for (let piece = await next(); piece !== undefined; piece = await next()) {
        session ??= await openReadBackSession({ ...options, signal: stop.signal });
        const table = tables[piece.table] as ReadBackTable;
        mergeRowDigest(
          digests.get(piece.table) as RowDigest,
          await session.read(copyStatement(table, piece, ident)),
        );
      }
    } catch (error) {
      fail(errorMessage(error));
    } finally {
      const failure = await session?.close();
      if (failure !== undefined) fail(failure);
    }
  };
  const staff = () => {
    while (workers.length < Math.min(limit, piecesAdded)) workers.push(work());
    wake();
  };
  return {
    add(toRead) {
      const fresh = toRead.filter((table) => !digests.has(table.index));
      for (const table of fresh) digests.set(table.index, createRowDigest());
      const pieces = piecesOf(fresh, READ_BACK_SESSIONS, options.tidRanges ?? false);
      // The heaviest first: the last piece to finish is then a small one.
      queue.push(...pieces.sort((a, b) => b.weight - a.weight));
      piecesAdded += pieces.length;
      staff();
    },
    widen(sessions) {
      limit = Math.max(limit, sessions);
      staff();
    },
    async finish() {
      closed = true;
      wake();
      await Promise.all(workers);
      options.signal.removeEventListener('abort', onAbort);
      if (problem !== undefined) return { ok: false, problem };
      const read = new Map<number, { rows: number; digest: string }>();
      for (const [index, digest] of digests) {
        read.set(index, { rows: digest.rows, digest: formatRowDigest(digest) });
      }
      return { ok: true, tables: read };
    },
    cancel() {
      fail('reading the restored tables back was stopped');
    },
  };
}
