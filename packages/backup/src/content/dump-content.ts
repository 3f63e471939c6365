import {
  CONTENT_PROOF_VERSION,
  type ContentProof,
  type SequenceValue,
  type TableDigest,
} from '@warden/catalog';
import {
  addRow,
  createRowDigest,
  formatRowDigest,
  mergeRowDigest,
  ROW_DIGEST_ALGORITHM,
  type RowDigest,
} from './row-digest.js';
import { createTopLevelTracker } from './sql-top-level.js';

/**
 * Reads pg_dump's plain SQL as it streams past (the integrity check already decompresses it) and
 * records what the data is: per `COPY … FROM stdin;` block the row count and digest of its lines,
 * and every `SELECT pg_catalog.setval(…)`. Restores read their tables back in the same COPY text
 * and feed it to {@link createCopyReadbackScanner}, so both sides hash the same kind of bytes.
 */
export interface DumpContentScanner {
  write(chunk: Buffer): void;
  /** The content seen; call once after the last chunk. */
  finish(): DumpContent;
}

export interface DumpContent {
  tables: TableDigest[];
  sequences: SequenceValue[];
  /** From the dump's `SET client_encoding = '…';`. */
  encoding?: string;
}

/**
 * The database encodings a dump is written and read in as they are, by the decoder that reads
 * them exactly: for every character it gives the code point the server's conversion to UTF-8
 * gives (test/restore-encodings.test.ts compares them on the server). The read-back's restored
 * database has that conversion's names, so a decoder that maps one character elsewhere makes a
 * table "missing". LATIN1 is Node's own `latin1` (the WHATWG `iso-8859-1` is windows-1252);
 * SQL_ASCII bytes reach a client unconverted, and the pg client reads them as UTF-8.
 *
 * Left out, so dumped in UTF-8 (see {@link dumpEncodingFor}): EUC_CN, EUC_TW, EUC_JIS_2004 (no
 * exact decoder: the WHATWG gbk maps EUC_CN's `・` and `―` elsewhere), EUC_JP and EUC_KR (the
 * WHATWG decoders lack or remap IBM extensions, `€`, `®`), LATIN5 (windows-1254 reads its C1
 * controls as punctuation), LATIN10 (Node has no iso-8859-16) and WIN1252 (Node 20 decodes
 * windows-1252 as Latin-1), and WIN874, WIN1253, WIN1255 and KOI8U, whose decoders changed
 * between Node 20 and Node 24 (ICU's tables: e.g. KOI8U 0xAE is U+255D in one, U+045E in the
 * other), so no one of them is exact on every Node Warden runs on. MULE_INTERNAL has no conversion
 * to UTF-8 at all (see preflight.ts).
 */
const DECODER_LABELS: Record<string, string> = {
  SQL_ASCII: 'utf-8',
  UTF8: 'utf-8',
  LATIN1: 'latin1',
  LATIN2: 'iso-8859-2',
  LATIN3: 'iso-8859-3',
  LATIN4: 'iso-8859-4',
  LATIN6: 'iso-8859-10',
  LATIN7: 'iso-8859-13',
  LATIN8: 'iso-8859-14',
  LATIN9: 'iso-8859-15',
  ISO_8859_5: 'iso-8859-5',
  ISO_8859_6: 'iso-8859-6',
  ISO_8859_7: 'iso-8859-7',
  ISO_8859_8: 'iso-8859-8',
  WIN866: 'ibm866',
  WIN1250: 'windows-1250',
  WIN1251: 'windows-1251',
  WIN1254: 'windows-1254',
  WIN1256: 'windows-1256',
  WIN1257: 'windows-1257',
  WIN1258: 'windows-1258',
  KOI8R: 'koi8-r',
};

/** The encodings {@link lineDecoder} reads exactly. */
export const EXACTLY_DECODED_ENCODINGS: readonly string[] = Object.keys(DECODER_LABELS);

export function decodesExactly(encoding: string): boolean {
  return Object.hasOwn(DECODER_LABELS, encoding.toUpperCase());
}

/**
 * The client encoding pg_dump writes a database of `databaseEncoding` in: its own when its names
 * are read exactly, else UTF-8 (the server converts; a restore converts back where the restored
 * database has another encoding).
 */
export function dumpEncodingFor(databaseEncoding: string): string {
  return decodesExactly(databaseEncoding) ? databaseEncoding.toUpperCase() : 'UTF8';
}

/** Decodes a line of SQL written in `encoding` (one not read exactly as UTF-8). */
export function lineDecoder(encoding: string): (buf: Buffer, start: number, end: number) => string {
  const label = DECODER_LABELS[encoding.toUpperCase()] ?? 'utf-8';
  if (label === 'utf-8') return (buf, start, end) => buf.toString('utf8', start, end);
  if (label === 'latin1') return (buf, start, end) => buf.toString('latin1', start, end);
  const decoder = new TextDecoder(label);
  return (buf, start, end) => decoder.decode(buf.subarray(start, end));
}

interface OpenTable {
  schema: string;
  name: string;
  columns: string[];
  digest: RowDigest;
}

const NEWLINE = 0x0a;
const BACKSLASH = 0x5c;
const COPY_PREFIX = Buffer.from('COPY ');
const SETVAL_PREFIX = Buffer.from('SELECT pg_catalog.setval(');
const ENCODING_PREFIX = Buffer.from("SET client_encoding = '");
const END_OF_DATA = Buffer.from('\\.');

/** Splits a stream into lines; a line split across chunks is joined (one copy per chunk boundary). */
function createLineSplitter(onLine: (buf: Buffer, start: number, end: number) => void) {
  let carry: Buffer | undefined;
  return {
    write(chunk: Buffer) {
      let start = 0;
      if (carry !== undefined) {
        const newline = chunk.indexOf(NEWLINE);
        if (newline === -1) {
          carry = Buffer.concat([carry, chunk]);
          return;
        }
        const line = Buffer.concat([carry, chunk.subarray(0, newline)]);
        carry = undefined;
        onLine(line, 0, line.length);
        start = newline + 1;
      }
      for (;;) {
        const newline = chunk.indexOf(NEWLINE, start);
        if (newline === -1) break;
        onLine(chunk, start, newline);
        start = newline + 1;
      }
      if (start < chunk.length) carry = Buffer.from(chunk.subarray(start));
    },
    end() {
      if (carry !== undefined && carry.length > 0) onLine(carry, 0, carry.length);
      carry = undefined;
    },
  };
}

function startsWith(buf: Buffer, start: number, end: number, prefix: Buffer): boolean {
  return (
    end - start >= prefix.length && buf.compare(prefix, 0, prefix.length, start, start + prefix.length) === 0
  );
}

function isEndOfData(buf: Buffer, start: number, end: number): boolean {
  return end - start === 2 && buf[start] === END_OF_DATA[0] && buf[start + 1] === END_OF_DATA[1];
}

export function tableKey(schema: string, name: string): string {
  return JSON.stringify([schema, name]);
}

export function createDumpContentScanner(): DumpContentScanner {
  const tables = new Map<string, TableDigest & { digestState: RowDigest }>();
  const sequences: SequenceValue[] = [];
  let open: OpenTable | undefined;
  let encoding: string | undefined;
  let decode = lineDecoder('UTF8');
  const statements = createTopLevelTracker();
  const splitter = createLineSplitter((buf, start, end) => {
    if (open !== undefined) {
      if (isEndOfData(buf, start, end)) {
        const key = tableKey(open.schema, open.name);
        const known = tables.get(key);
        // A table appears once in a dump; a second block (never seen from pg_dump) adds up.
        if (known) {
          mergeRowDigest(known.digestState, open.digest);
        } else {
          tables.set(key, {
            schema: open.schema,
            name: open.name,
            columns: open.columns,
            rows: 0,
            digest: '',
            digestState: open.digest,
          });
        }
        open = undefined;
      } else {
        addRow(open.digest, buf, start, end);
      }
      return;
    }
    // A line inside a string literal, quoted identifier or dollar-quoted body (a comment of several
    // lines, a function) may read like a statement: only one at the top level is one.
    const topLevel = statements.atTopLevel;
    statements.line(buf.toString('latin1', start, end));
    if (!topLevel) return;
    if (startsWith(buf, start, end, COPY_PREFIX)) {
      const copy = parseCopyStatement(decode(buf, start, end));
      if (copy) open = { ...copy, digest: createRowDigest() };
    } else if (startsWith(buf, start, end, SETVAL_PREFIX)) {
      const setval = parseSetval(decode(buf, start, end));
      if (setval) sequences.push(setval);
    } else if (encoding === undefined && startsWith(buf, start, end, ENCODING_PREFIX)) {
      const match = /^SET client_encoding = '([A-Za-z0-9_]+)';$/.exec(buf.toString('latin1', start, end));
      if (match?.[1]) {
        encoding = match[1];
        decode = lineDecoder(encoding);
      }
    }
  });
  return {
    write: (chunk) => splitter.write(chunk),
    finish() {
      splitter.end();
      return {
        tables: [...tables.values()].map(({ digestState, ...table }) => ({
          ...table,
          rows: digestState.rows,
          digest: formatRowDigest(digestState),
        })),
        sequences,
        ...(encoding === undefined ? {} : { encoding }),
      };
    },
  };
}

/**
 * Reads the output of a restore's read-back session (see `read-back-session.ts`): each COPY's text
 * stands between the marker lines `\.warden begin` and `\.warden end`, and `onCopy` gets the digest
 * of the lines between them as each end marker arrives. No COPY text line starts with `\.` (COPY
 * escapes a backslash as `\\`), so a marker cannot be mistaken for a row.
 */
export function createCopyReadbackScanner(onCopy: (digest: RowDigest) => void) {
  let current: RowDigest | undefined;
  const marker = Buffer.from('\\.warden ');
  const splitter = createLineSplitter((buf, start, end) => {
    // The first byte decides for nearly every line: a native compare per row costs more than the hashing.
    if (buf[start] === BACKSLASH && startsWith(buf, start, end, marker)) {
      if (buf.toString('latin1', start + marker.length, end) === 'begin') {
        current = createRowDigest();
      } else if (current !== undefined) {
        onCopy(current);
        current = undefined;
      }
      return;
    }
    if (current) addRow(current, buf, start, end);
  });
  return {
    write: (chunk: Buffer) => splitter.write(chunk),
    /** Call after the last chunk. */
    finish: () => splitter.end(),
  };
}

/** Parses one identifier as pg_dump's fmtId writes it (quoted with `""` escapes, or plain). */
function parseIdentifier(text: string, at: number): { value: string; next: number } | undefined {
  if (text[at] === '"') {
    let value = '';
    let i = at + 1;
    for (;;) {
      const quote = text.indexOf('"', i);
      if (quote === -1) return undefined;
      value += text.slice(i, quote);
      if (text[quote + 1] === '"') {
        value += '"';
        i = quote + 2;
      } else {
        return { value, next: quote + 1 };
      }
    }
  }
  const match = /^[^\s".,()']+/.exec(text.slice(at));
  return match ? { value: match[0], next: at + match[0].length } : undefined;
}

/** `schema.name` as pg_dump qualifies it. */
export function parseQualifiedName(
  text: string,
  at = 0,
): { schema: string; name: string; next: number } | undefined {
  const schema = parseIdentifier(text, at);
  if (!schema || text[schema.next] !== '.') return undefined;
  const name = parseIdentifier(text, schema.next + 1);
  if (!name) return undefined;
  return { schema: schema.value, name: name.value, next: name.next };
}

/** `COPY schema.name (col, "Col 2") FROM stdin;` */
export function parseCopyStatement(
  line: string,
): { schema: string; name: string; columns: string[] } | undefined {
  const table = parseQualifiedName(line, COPY_PREFIX.length);
  if (!table) return undefined;
  let at = table.next;
  const columns: string[] = [];
  if (line.startsWith(' (', at)) {
    at += 2;
    for (;;) {
      const column = parseIdentifier(line, at);
      if (!column) return undefined;
      columns.push(column.value);
      at = column.next;
      if (line.startsWith(', ', at)) at += 2;
      else if (line[at] === ')') {
        at += 1;
        break;
      } else return undefined;
    }
  }
  if (line.slice(at) !== ' FROM stdin;') return undefined;
  return { schema: table.schema, name: table.name, columns };
}

/** `SELECT pg_catalog.setval('schema.name', 42, true);` (pg_dump sets standard_conforming_strings). */
export function parseSetval(line: string): SequenceValue | undefined {
  const match = /^SELECT pg_catalog\.setval\('((?:[^']|'')*)', (-?\d+), (true|false)\);$/.exec(line);
  if (!match) return undefined;
  const qualified = parseQualifiedName((match[1] as string).replaceAll("''", "'"));
  if (!qualified) return undefined;
  return {
    schema: qualified.schema,
    name: qualified.name,
    value: match[2] as string,
    is_called: match[3] === 'true',
  };
}

/** The manifest's `content` from what the scanner saw and the large objects read in the snapshot. */
export function contentProofOf(
  content: DumpContent,
  largeObjects: { count: number; digest: string } | undefined,
): ContentProof {
  return {
    version: CONTENT_PROOF_VERSION,
    algorithm: ROW_DIGEST_ALGORITHM,
    tables: content.tables,
    sequences: content.sequences,
    ...(largeObjects ? { large_objects: largeObjects } : {}),
    ...(content.encoding === undefined ? {} : { encoding: content.encoding }),
  };
}
