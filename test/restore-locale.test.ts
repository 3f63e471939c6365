import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BackupTargetSpec, restoreBackup, runBackup, runRestoreTest } from '@warden/backup';
import type { BackupManifest } from '@warden/catalog';
import { createLogger } from '@warden/logging';
import { databaseNameSlug } from '@warden/names';
import { type BackupStorage, createLocalStorage } from '@warden/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { doctorBackup } from './helpers/doctored-backup.js';
import { dropDatabase, pgUrl, targetSpecFor, testBackupSettings, withClient } from './helpers/pg-fixtures.js';

/**
 * A plain dump holds no `CREATE DATABASE`, so neither the database's encoding nor its locale: a
 * restore creates its database with the ones the backup recorded, and says so where the server
 * cannot.
 */

const logger = createLogger({ service: 'restore-locale-test', level: 'silent' });
const suffix = randomBytes(4).toString('hex');
/** Swedish collation (ICU): `a B z å ä ö`; the server's default (C.UTF-8) sorts `B a z Å ä ö`. */
const icuSource = `Wärden Locale ICU ${suffix}`;
const latin1Source = `warden_locale_latin1_${suffix}`;
const WORDS = ['z', 'ö', 'a', 'B', 'ä', 'å'];

let work: string;
let storage: BackupStorage;
const databases = new Set<string>([icuSource, latin1Source]);

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

interface LocaleRow {
  encoding: string;
  collate: string;
  ctype: string;
  provider: string;
  icu: string | null;
}

async function localeOf(database: string): Promise<LocaleRow> {
  return withClient('postgres', async (client) => {
    const { rows } = await client.query<LocaleRow>(
      `SELECT pg_encoding_to_char(encoding) AS encoding, datcollate AS collate, datctype AS ctype,
              datlocprovider::text AS provider, daticulocale AS icu
         FROM pg_database WHERE datname = $1`,
      [database],
    );
    return rows[0] as LocaleRow;
  });
}

/** The words as the database sorts them, through its index (what a paging query sees). */
async function sortedWords(database: string): Promise<string[]> {
  return withClient(database, async (client) => {
    await client.query('SET enable_seqscan = off');
    const { rows } = await client.query<{ w: string }>('SELECT w FROM words ORDER BY w');
    return rows.map((row) => row.w);
  });
}

function targetOf(database: string): BackupTargetSpec {
  return targetSpecFor({ name: database, url: pgUrl(database) }, { name: databaseNameSlug(database) });
}

let icuBackup: BackupManifest;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'warden-restore-locale-'));
  storage = createLocalStorage({ dir: join(work, 'store') });
  await withClient('postgres', async (client) => {
    await client.query(
      `CREATE DATABASE ${quoteIdent(icuSource)} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8' LOCALE_PROVIDER icu ICU_LOCALE 'sv-SE'`,
    );
    await client.query(
      `CREATE DATABASE ${quoteIdent(latin1Source)} TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'`,
    );
  });
  await withClient(icuSource, async (client) => {
    await client.query('CREATE TABLE words (w text PRIMARY KEY)');
    for (const word of WORDS) await client.query('INSERT INTO words VALUES ($1)', [word]);
  });
  await withClient(latin1Source, (client) =>
    client.query("CREATE TABLE words (w text PRIMARY KEY); INSERT INTO words VALUES ('café'), ('naïve')"),
  );
  icuBackup = await runBackup(
    { storage, logger },
    { target: targetOf(icuSource), ...testBackupSettings(work) },
  );
}, 180_000);

afterAll(async () => {
  for (const name of databases) await dropDatabase(name);
  await storage?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

const restoreSettings = () => ({ spoolDir: join(work, 'restore-spool') });

describe('the backup records the database encoding and locale', () => {
  it('in the manifest', () => {
    expect(icuBackup.database_locale).toEqual({
      encoding: 'UTF8',
      collate: 'C.UTF-8',
      ctype: 'C.UTF-8',
      provider: 'icu',
      locale: 'sv-SE',
      icu_rules: null,
    });
  });
});

describe('a restore creates its database with them', () => {
  it('an ICU database sorts, through its index, as the source did; the restore test passes', async () => {
    expect(await sortedWords(icuSource)).toEqual(['a', 'B', 'z', 'å', 'ä', 'ö']);
    const restored = await restoreBackup(
      { storage, logger },
      {
        target: targetOf(icuSource),
        file: icuBackup.filename,
        database: `${icuSource} copy`,
        ...restoreSettings(),
      },
    );
    databases.add(restored.database);
    expect(restored.check).toMatchObject({ locale: 'matched', content: 'matched' });
    expect(restored.check?.localeNote).toBeUndefined();
    expect(await localeOf(restored.database)).toEqual(await localeOf(icuSource));
    expect(await sortedWords(restored.database)).toEqual(await sortedWords(icuSource));

    const tested = await runRestoreTest(
      { storage, logger },
      { target: targetOf(icuSource), file: icuBackup.filename, ...restoreSettings() },
    );
    expect(tested.record).toMatchObject({ status: 'passed' });
    expect(tested.check?.locale).toBe('matched');
  }, 120_000);

  it('a LATIN1 database stays LATIN1 (one byte per letter), with the proof matched', async () => {
    const target = targetOf(latin1Source);
    const backup = await runBackup({ storage, logger }, { target, ...testBackupSettings(work) });
    expect(backup.database_locale).toMatchObject({ encoding: 'LATIN1', collate: 'C', provider: 'libc' });
    const restored = await restoreBackup(
      { storage, logger },
      { target, file: backup.filename, database: `${latin1Source}_copy`, ...restoreSettings() },
    );
    databases.add(restored.database);
    expect(restored.check).toMatchObject({ locale: 'matched', content: 'matched' });
    expect(await localeOf(restored.database)).toEqual(await localeOf(latin1Source));
    const bytes = await withClient(restored.database, (client) =>
      client.query<{ bytes: number }>("SELECT octet_length(w) AS bytes FROM words WHERE w = 'café'"),
    );
    expect(bytes.rows[0]?.bytes).toBe(4);
  }, 120_000);
});

describe('a server that does not have the backup locale', () => {
  it('restores into its default, and the result and the restore test say so, naming both', async () => {
    const file = await doctorBackup(
      { storage },
      join(work, 'store'),
      icuBackup,
      '-elsewhere',
      // Only the manifest matters here; a comment keeps the SQL's meaning.
      (sql) => `-- copied from another server\n${sql}`,
      (manifest) => ({
        ...manifest,
        database_locale: {
          encoding: 'UTF8',
          collate: 'xx_YY.UTF-8',
          ctype: 'xx_YY.UTF-8',
          provider: 'libc',
          locale: null,
          icu_rules: null,
        },
      }),
    );
    const target = targetOf(icuSource);
    const restored = await restoreBackup(
      { storage, logger },
      { target, file, database: `${icuSource} elsewhere`, ...restoreSettings() },
    );
    databases.add(restored.database);
    expect(restored.check).toMatchObject({ locale: 'server-default', content: 'matched' });
    expect(restored.check?.localeNote).toMatch(/LC_COLLATE xx_YY\.UTF-8/);
    expect(restored.check?.localeNote).toMatch(/invalid locale name/);
    expect(restored.check?.localeNote).toMatch(/server's default, encoding UTF8, LC_COLLATE C\.UTF-8/);
    expect(await localeOf(restored.database)).toMatchObject({ collate: 'C.UTF-8', provider: 'c' });

    const tested = await runRestoreTest({ storage, logger }, { target, file, ...restoreSettings() });
    expect(tested.record).toMatchObject({ status: 'passed' });
    expect(tested.check).toMatchObject({ locale: 'server-default' });
  }, 120_000);
});
