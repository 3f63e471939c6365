import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  type BackupTargetSpec,
  checkRestoredContent,
  EXACTLY_DECODED_ENCODINGS,
  lineDecoder,
  parseDatabaseUrl,
  restoreBackup,
  runBackup,
  runRestoreTest,
} from '@warden/backup';
import { isBackupError } from '@warden/errors';
import { createLogger } from '@warden/logging';
import { type BackupStorage, createLocalStorage } from '@warden/storage';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropDatabase, pgUrl, targetSpecFor, testBackupSettings, withClient } from './helpers/pg-fixtures.js';

const logger = createLogger({ service: 'restore-encodings-test', level: 'silent' });
const suffix = randomBytes(4).toString('hex');
const databases = new Set<string>();
let work: string;
let storeDir: string;
let storage: BackupStorage;

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

async function createDatabaseIn(name: string, encoding: string): Promise<void> {
  databases.add(name);
  await withClient('postgres', (client) =>
    client.query(
      `CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0 ENCODING '${encoding}' LC_COLLATE 'C' LC_CTYPE 'C'`,
    ),
  );
}

/**
 * Every row of every user table as text and every sequence, read through UTF-8: the characters,
 * whatever encoding the database stores them in.
 */
async function contents(database: string): Promise<Record<string, string[]>> {
  return withClient(database, async (client) => {
    const { rows: relations } = await client.query<{ schema: string; name: string; kind: string }>(
      `SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS kind
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'S') AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'`,
    );
    const result: Record<string, string[]> = {};
    for (const { schema, name, kind } of relations) {
      const qualified = `${quoteIdent(schema)}.${quoteIdent(name)}`;
      const sql =
        kind === 'S'
          ? `SELECT last_value::text || ' ' || is_called::text AS row FROM ${qualified}`
          : `SELECT t::text AS row FROM ONLY ${qualified} AS t`;
      const { rows } = await client.query<{ row: string }>(sql);
      result[`${kind} ${schema}.${name}`] = rows.map((row) => row.row).sort();
    }
    return result;
  });
}

interface EncodingCase {
  encoding: string;
  schema: string;
  table: string;
  column: string;
  sequence: string;
  values: string[];
  /** More rows, as SQL expressions (for byte forms a UTF-8 client cannot send). */
  rawValues?: string[];
}

/**
 * Server encodings Node has no exact decoder for, each with names holding the characters where a
 * decoder would go wrong: EUC_TW and EUC_JIS_2004 have none; the WHATWG decoders of the others
 * map some characters to other code points than the server's conversion to UTF-8 (EUC_CN's
 * `・` and `―`, EUC_JP's `￤` and IBM extensions, EUC_KR's `€` and `®`), do not exist in Node
 * (LATIN10), decode C1 controls as Windows punctuation (LATIN5), in Node 20 decode
 * windows-1252 as Latin-1 (WIN1252's `€`), or decode differently in Node 20 and Node 24 (KOI8U's
 * 0xAE and 0xBE).
 */
const CASES: EncodingCase[] = [
  {
    encoding: 'EUC_TW',
    schema: '資料 乂',
    table: '表格 "名" \\ 乜',
    column: '欄位',
    sequence: '序號',
    values: ['繁體中文 測試', '乂乜 plane 2'],
  },
  {
    encoding: 'EUC_JIS_2004',
    schema: 'スキーマ',
    table: 'テーブル〜 "か゚"',
    column: '列ㇰ',
    sequence: '連番𠀋',
    values: ['日本語 𠀋 か゚', 'ﾊﾝｶｸ'],
  },
  {
    encoding: 'EUC_CN',
    schema: '模式',
    table: '表・―',
    column: '列',
    sequence: '序列',
    values: ['简体中文・―'],
  },
  {
    encoding: 'EUC_JP',
    schema: 'スキーマ',
    table: '表￤ⅰ',
    column: '列',
    sequence: '連番',
    values: ['日本語'],
    // NEC row 13 "≒" (0xADF0): the server converts it to U+2252 and back to 0xA2E2, so a dump
    // in EUC_JP read back in EUC_JP from a UTF-8 restore differs in bytes.
    rawValues: [`convert_from('\\xadf0'::bytea, 'EUC_JP')`],
  },
  {
    encoding: 'EUC_KR',
    schema: '스키마',
    table: '표€®',
    column: '열',
    sequence: '순서',
    values: ['한국어'],
  },
  {
    encoding: 'LATIN10',
    schema: 'Schemă',
    table: 'TabelȘț',
    column: 'coloană',
    sequence: 'secvență',
    values: ['Ștefan țară'],
  },
  {
    encoding: 'WIN1252',
    schema: 'Schéma',
    table: 'Tâble € Ÿ',
    column: 'Œuvre',
    sequence: 'Séq‰',
    values: ['café € „quoted“'],
  },
  {
    encoding: 'KOI8U',
    schema: 'Схема',
    table: 'Таблиця ╝',
    column: 'стовпець ї',
    sequence: 'послідовність ґ',
    values: ['Київ ╬ є'],
  },
  {
    encoding: 'LATIN5',
    schema: 'Şema',
    table: 'Tablo\u0080ğ',
    column: 'sütun',
    sequence: 'sıra',
    values: ['İstanbul ğ'],
  },
];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'warden-restore-encodings-'));
  storeDir = join(work, 'store');
  storage = createLocalStorage({ dir: storeDir });
});

afterAll(async () => {
  for (const name of databases) await dropDatabase(name);
  await storage?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

const settings = () => testBackupSettings(work);

function sampleRows(sample: EncodingCase): string[] {
  return [
    ...sample.values.map((value) => `'${value.replaceAll("'", "''")}'`),
    ...(sample.rawValues ?? []),
    'NULL',
  ];
}

/** A database in the sample's encoding with its schema, table (rows) and sequence (at 7). */
async function createSample(sample: EncodingCase, label = ''): Promise<string> {
  const source = `warden_proof_${sample.encoding.toLowerCase()}${label}_${suffix}`;
  await createDatabaseIn(source, sample.encoding);
  const table = `${quoteIdent(sample.schema)}.${quoteIdent(sample.table)}`;
  const sequence = `${quoteIdent(sample.schema)}.${quoteIdent(sample.sequence)}`;
  const rows = sampleRows(sample);
  await withClient(source, (client) =>
    client.query(`
      CREATE SCHEMA ${quoteIdent(sample.schema)};
      CREATE TABLE ${table} (id int PRIMARY KEY, ${quoteIdent(sample.column)} text);
      INSERT INTO ${table} VALUES ${rows.map((value, index) => `(${index + 1}, ${value})`).join(', ')};
      CREATE SEQUENCE ${sequence};
      SELECT setval('${sequence.replaceAll("'", "''")}', 7);`),
  );
  return source;
}

/** Whether every role and tablespace name (what pg_dump reads of the server's) reads in UTF-8 from `database`. */
async function sharedNamesConvert(database: string): Promise<boolean> {
  return withClient(database, (client) =>
    client.query('SELECT rolname AS name FROM pg_roles UNION ALL SELECT spcname FROM pg_tablespace').then(
      () => true,
      (error: { code?: string }) => {
        if (error.code === '22P05' || error.code === '22021') return false;
        throw error;
      },
    ),
  );
}

function targetFor(database: string): BackupTargetSpec {
  return targetSpecFor({ name: database, url: pgUrl(database) }, { name: database.replaceAll('_', '-') });
}

describe('a database in an encoding Node cannot decode exactly', () => {
  it.each(CASES)(
    '$encoding: non-ASCII schema, table, column and sequence names and data back up, restore with the proof matched and pass the restore test',
    async (sample) => {
      const source = await createSample(sample);
      const rows = sampleRows(sample);
      // Roles are the server's: a role name another test made that this encoding cannot read
      // would keep the dump in it (tested below). Tests name server-wide objects in ASCII or in
      // characters every tested encoding reads (° § ± Ω), so this holds while files run in parallel.
      expect(
        await sharedNamesConvert(source),
        `a role or tablespace name on the server is not readable in ${sample.encoding}`,
      ).toBe(true);
      const target = targetFor(source);
      const manifest = await runBackup({ storage, logger }, { target, ...settings() });
      expect(manifest.content?.tables).toEqual([
        expect.objectContaining({
          schema: sample.schema,
          name: sample.table,
          columns: ['id', sample.column],
          rows: rows.length,
        }),
      ]);
      expect(manifest.content?.sequences).toEqual([
        { schema: sample.schema, name: sample.sequence, value: '7', is_called: true },
      ]);

      const restored = await restoreBackup(
        { storage, logger },
        { target, file: manifest.filename, spoolDir: join(work, 'restore-spool') },
      );
      databases.add(restored.database);
      expect(restored.check).toMatchObject({
        rowCounts: 'matched',
        schemaObjects: 'matched',
        content: 'matched',
      });
      expect(await contents(restored.database)).toEqual(await contents(source));

      const tested = await runRestoreTest(
        { storage, logger },
        { target, file: manifest.filename, spoolDir: join(work, 'restore-spool') },
      );
      expect(tested.record).toMatchObject({ status: 'passed' });
      expect(tested.check?.content).toBe('matched');

      // By hand, into a database of the source's encoding: the server converts the UTF-8 back.
      const plain = `${source}_plain`;
      await createDatabaseIn(plain, sample.encoding);
      await execa('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction'], {
        input: gunzipSync(await readFile(join(storeDir, manifest.key))),
        env: { PGHOST: '127.0.0.1', PGUSER: 'postgres', PGDATABASE: plain },
        stdout: 'ignore',
      });
      expect(await contents(plain)).toEqual(await contents(source));
      const url = pgUrl(plain);
      const proof = await checkRestoredContent({
        manifest,
        url,
        params: parseDatabaseUrl(url),
        psqlPath: 'psql',
        signal: AbortSignal.timeout(60_000),
      });
      expect(proof.problems).toEqual([]);
      expect(proof.check.content).toBe('matched');
      // How: the server converted the dump to UTF-8, which Node reads exactly.
      expect(manifest.content?.encoding).toBe('UTF8');
    },
    180_000,
  );
});

describe('a database in an encoding without a conversion to UTF-8', () => {
  it('MULE_INTERNAL is refused before dumping, for good, saying why', async () => {
    const mule = `warden_proof_mule_${suffix}`;
    await createDatabaseIn(mule, 'MULE_INTERNAL');
    const error = await runBackup({ storage, logger }, { target: targetFor(mule), ...settings() }).catch(
      (caught: unknown) => caught,
    );
    expect(isBackupError(error, 'PREFLIGHT_CONNECT_FAILED'), String(error)).toBe(true);
    expect((error as { permanent?: boolean }).permanent).toBe(true);
    expect((error as Error).message).toContain('MULE_INTERNAL');
    expect((error as Error).message).toContain('cannot be converted to UTF-8');
  }, 60_000);
});

describe('the encodings a dump is read in as they are', () => {
  it('decode every character as the server converts it to UTF-8, and convert back unchanged', async () => {
    const differences = await withClient('postgres', async (client) => {
      // NULL for a byte that is no character of the encoding.
      await client.query(`CREATE FUNCTION pg_temp.converted(b bytea, e text) RETURNS text LANGUAGE plpgsql AS $$
        BEGIN RETURN convert_from(b, e); EXCEPTION WHEN OTHERS THEN RETURN NULL; END $$`);
      const found: string[] = [];
      for (const encoding of EXACTLY_DECODED_ENCODINGS) {
        if (encoding === 'UTF8' || encoding === 'SQL_ASCII') continue;
        const { rows } = await client.query<{
          width: number;
          byte: number;
          char: string | null;
          back: Buffer | null;
        }>(
          `SELECT pg_encoding_max_length(pg_char_to_encoding($1)) AS width, b AS byte, c AS char, convert_to(c, $1) AS back
             FROM generate_series(128, 255) b,
                  pg_temp.converted(decode(lpad(to_hex(b), 2, '0'), 'hex'), $1) c
            ORDER BY b`,
          [encoding],
        );
        // Only single bytes are enumerated here; a multibyte encoding needs its sequences listed.
        expect(rows[0]?.width, encoding).toBe(1);
        const decode = lineDecoder(encoding);
        for (const { byte, char, back } of rows) {
          if (char === null) continue;
          const read = decode(Buffer.from([byte]), 0, 1);
          if (read !== char) {
            found.push(
              `${encoding} 0x${byte.toString(16)}: read as U+${read.codePointAt(0)?.toString(16)}, the server's is U+${char.codePointAt(0)?.toString(16)}`,
            );
          }
          if (back?.length !== 1 || back[0] !== byte) {
            found.push(
              `${encoding} 0x${byte.toString(16)}: U+${char.codePointAt(0)?.toString(16)} converts back to 0x${back?.toString('hex')}`,
            );
          }
        }
      }
      return found;
    });
    expect(differences).toEqual([]);
  });
});

describe('a server with a role name the database cannot convert to UTF-8', () => {
  it("dumps in the database's encoding, and its restore counts rows and names the encoding instead of a missing table", async () => {
    const sample = CASES[0] as EncodingCase;
    const source = await createSample(sample, '_role');
    // "ô" in UTF-8 (0xC3 0xB4) is a code EUC_TW has no Unicode for; pg_dump reads every role's name.
    const role = `warden_proof_rôle_${suffix}`;
    await withClient('postgres', (client) => client.query(`CREATE ROLE ${quoteIdent(role)}`));
    try {
      expect(await sharedNamesConvert(source)).toBe(false);
      const target = targetFor(source);
      const manifest = await runBackup({ storage, logger }, { target, ...settings() });
      expect(manifest.content?.encoding).toBe('EUC_TW');
      const restored = await restoreBackup(
        { storage, logger },
        { target, file: manifest.filename, spoolDir: join(work, 'restore-spool'), discard: true },
      );
      expect(restored.check).toMatchObject({
        rowCounts: 'matched',
        schemaObjects: 'matched',
        content: 'counts-only',
      });
      expect(restored.check?.contentNote).toContain('EUC_TW');
    } finally {
      await withClient('postgres', (client) => client.query(`DROP ROLE ${quoteIdent(role)}`));
    }
  }, 120_000);
});
