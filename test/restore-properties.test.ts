import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  type BackupTargetSpec,
  type CreateSpooledBackupOptions,
  restoreBackup,
  runBackup,
  runRestoreTest,
} from '@warden/backup';
import type { BackupManifest } from '@warden/catalog';
import { createLogger } from '@warden/logging';
import { databaseNameSlug } from '@warden/names';
import { type BackupStorage, createLocalStorage } from '@warden/storage';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { doctorBackup, restoreFailure } from './helpers/doctored-backup.js';
import {
  createDatabase,
  dropDatabase,
  PG_HOST,
  PG_SUPERUSER,
  pgUrl,
  targetSpecFor,
  testBackupSettings,
  withClient,
} from './helpers/pg-fixtures.js';
import { commandAvailable } from './helpers/processes.js';

/**
 * The database's comment and settings travel in the dump file itself (a section Warden writes
 * ahead of pg_dump's output): a plain `gunzip | psql` restores them, and an edited file is caught.
 */

const logger = createLogger({ service: 'restore-properties-test', level: 'silent' });
const suffix = randomBytes(4).toString('hex');
const sourceName = `Wärden Props ${suffix}`;
/** Space, uppercase and a non-ASCII letter. */
// Roles are the server's: a name every tested encoding can read (see restore-encodings.test.ts).
const tenantRole = `Tenant Rolle Ω ${suffix}`;
/** Quotes, backslashes, the section's own dollar quote, format() directives, newlines, non-ASCII. */
const hostileText = `it's "quoted" \\ back\\\\slash $warden$ $$ %s %I %L %%\nsecond line: naïve 名前 😀`;
const KEY = '5a'.repeat(32);

let work: string;
let storeDir: string;
let storage: BackupStorage;
let target: BackupTargetSpec;
let backup: BackupManifest;
const databases = new Set<string>([sourceName]);

const backupSettings = () => testBackupSettings(work);
const restoreSettings = () => ({ spoolDir: join(work, 'restore-spool') });

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The database's comment and `pg_db_role_setting` rows, read in the database itself (its encoding). */
async function propertiesOf(database: string): Promise<{ comment: string | null; settings: string[][] }> {
  return withClient(database, async (client) => {
    const comment = await client.query<{ comment: string | null }>(
      `SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = current_database()`,
    );
    const settings = await client.query<{ role: string | null; config: string[] }>(
      `SELECT r.rolname AS role, s.setconfig AS config
         FROM pg_db_role_setting s LEFT JOIN pg_roles r ON r.oid = s.setrole
        WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    return {
      comment: comment.rows[0]?.comment ?? null,
      settings: settings.rows
        .flatMap((row) => row.config.map((setting) => [row.role ?? '', setting]))
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    };
  });
}

/** `gunzip -c FILE | psql -X -v ON_ERROR_STOP=1 [--single-transaction] -d NEW`, the documented manual restore. */
async function plainRestore(
  file: string,
  database: string,
  options: { singleTransaction: boolean; env?: Record<string, string> },
): Promise<{ stderr: string }> {
  const psql = await execa('gunzip', ['-c', file]).pipe(
    'psql',
    ['-X', '-q', '-v', 'ON_ERROR_STOP=1', ...(options.singleTransaction ? ['--single-transaction'] : [])],
    {
      env: { PGHOST: PG_HOST, PGUSER: PG_SUPERUSER, PGDATABASE: database, ...options.env },
      stdout: 'ignore',
    },
  );
  return { stderr: String(psql.stderr) };
}

async function freshDatabase(label: string, create: (name: string) => Promise<unknown> = createDatabase) {
  const name = `${sourceName} ${label}`;
  databases.add(name);
  await create(name);
  return name;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'warden-restore-properties-'));
  storeDir = join(work, 'store');
  storage = createLocalStorage({ dir: storeDir });
  await createDatabase(sourceName);
  await withClient('postgres', async (client) => {
    const db = quoteIdent(sourceName);
    await client.query(`CREATE ROLE ${quoteIdent(tenantRole)}`);
    await client.query(`COMMENT ON DATABASE ${db} IS ${client.escapeLiteral(hostileText)}`);
    await client.query(`ALTER DATABASE ${db} SET app.note = ${client.escapeLiteral(hostileText)}`);
    await client.query(`ALTER DATABASE ${db} SET app.tenant = 'acme'`);
    await client.query(`ALTER DATABASE ${db} SET search_path = "$user", public, "Odd ""Schéma"" $warden$"`);
    await client.query(`ALTER ROLE postgres IN DATABASE ${db} SET app.who = 'operator'`);
    await client.query(
      `ALTER ROLE ${quoteIdent(tenantRole)} IN DATABASE ${db} SET app.tenant = ${client.escapeLiteral(hostileText)}`,
    );
  });
  await withClient(sourceName, (client) =>
    client.query('CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, $$one$$)'),
  );
  target = targetSpecFor(
    { name: sourceName, url: pgUrl(sourceName) },
    { name: databaseNameSlug(sourceName) },
  );
  backup = await runBackup({ storage, logger }, { target, ...backupSettings() });
}, 180_000);

afterAll(async () => {
  for (const name of databases) await dropDatabase(name);
  await withClient('postgres', (client) => client.query(`DROP ROLE IF EXISTS ${quoteIdent(tenantRole)}`));
  await storage?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

/** The SQL of a stored gzip backup. */
async function sqlOf(manifest: BackupManifest): Promise<string> {
  return gunzipSync(await readFile(join(storeDir, manifest.key))).toString('utf8');
}

describe('the dump file carries the database comment and settings', () => {
  it('in a section of ASCII before pg_dump output that quotes none of their text', async () => {
    expect(backup.database_properties_in_dump).toBe(true);
    expect(backup.database_properties?.comment).toBe(hostileText);
    const sql = await sqlOf(backup);
    const section = sql.slice(0, sql.indexOf('--\n-- PostgreSQL database dump\n'));
    expect(section).toMatch(/^--\n-- Warden: /);
    expect(section).toMatch(/^[\x20-\x7e\n]*$/);
    // Two dollar quotes open and close the block: the text's own `$warden$` is not among them.
    expect(section.split('$warden$')).toHaveLength(3);
    for (const text of ['operator', 'acme', 'app.tenant', 'Tenant', "it's"])
      expect(section).not.toContain(text);
    // pg_dump's own output is untouched, its completion trailer last.
    expect(sql.slice(section.length)).toMatch(/^--\n-- PostgreSQL database dump\n/);
    expect(sql).toMatch(/-- PostgreSQL database dump complete\n/);
  });

  it('a plain gunzip | psql, with and without --single-transaction, and Warden restore give them exactly', async () => {
    const expected = await propertiesOf(sourceName);
    expect(expected.comment).toBe(hostileText);
    expect(expected.settings).toHaveLength(5);
    const file = join(storeDir, backup.key);
    // Replica mode as documented; standard_conforming_strings off and another client encoding until
    // pg_dump's own SETs: the section means the same either way.
    const hostileSession = {
      PGOPTIONS: '-c session_replication_role=replica -c standard_conforming_strings=off',
      PGCLIENTENCODING: 'LATIN1',
    };
    const single = await freshDatabase('single');
    expect((await plainRestore(file, single, { singleTransaction: true, env: hostileSession })).stderr).toBe(
      '',
    );
    expect(await propertiesOf(single)).toEqual(expected);
    const statements = await freshDatabase('statements');
    await plainRestore(file, statements, { singleTransaction: false });
    expect(await propertiesOf(statements)).toEqual(expected);

    const restored = await restoreBackup(
      { storage, logger },
      { target, file: backup.filename, ...restoreSettings() },
    );
    databases.add(restored.database);
    expect(restored.check).toMatchObject({ properties: 'matched', content: 'matched' });
    expect(await propertiesOf(restored.database)).toEqual(expected);
  }, 120_000);
});

/** The SQL without the section's block that sets `name` database-wide. */
function withoutDatabaseSetting(sql: string, name: string): string {
  const lines = sql.split('\n');
  const hex = Buffer.from(name, 'utf8').toString('hex');
  const at = lines.findIndex(
    (line) =>
      line.includes("format('ALTER DATABASE %I SET %I TO") && line.includes(`decode('${hex}', 'hex')`),
  );
  if (at === -1) return sql;
  // `BEGIN`, the statement, its EXCEPTION handler (two lines) and `END;`.
  lines.splice(at - 1, 6);
  return lines.join('\n');
}

describe('a backup whose section was edited', () => {
  it('a database setting removed from the file fails the restore and the restore test, naming it', async () => {
    const file = await doctorBackup({ storage }, storeDir, backup, '-setting', (sql) =>
      withoutDatabaseSetting(sql, 'app.note'),
    );
    const error = await restoreFailure(
      { storage, logger },
      { target, file, ...restoreSettings() },
      sourceName,
    );
    expect(error.problems).toEqual(['database setting app.note is missing after restore']);
    const tested = await runRestoreTest({ storage, logger }, { target, file, ...restoreSettings() });
    expect(tested.record).toMatchObject({
      status: 'failed',
      problems: ['database setting app.note is missing after restore'],
    });
  }, 120_000);
});

describe('an older backup, made before dumps carried them', () => {
  it('gets them from its manifest, exactly', async () => {
    const file = await doctorBackup(
      { storage },
      storeDir,
      backup,
      '-older',
      (sql) => sql.slice(sql.indexOf('--\n-- PostgreSQL database dump\n')),
      ({ database_properties_in_dump: _, ...older }) => older,
    );
    const result = await restoreBackup({ storage, logger }, { target, file, ...restoreSettings() });
    databases.add(result.database);
    expect(result.check).toMatchObject({ properties: 'matched', content: 'matched' });
    expect(await propertiesOf(result.database)).toEqual(await propertiesOf(sourceName));
  }, 120_000);
});

describe('backups of every kind carry them', () => {
  /** Kind, backup options, the program it needs. */
  const kinds: [string, Partial<CreateSpooledBackupOptions>, string?][] = [
    ['zstd', { compression: 'zstd' }, 'zstd'],
    ['encrypted', { encryptionKey: KEY }],
    ['encrypted zstd', { compression: 'zstd', encryptionKey: KEY }, 'zstd'],
    ['in-process gzip', { gzipEngine: 'zlib' }],
    ['igzip', { gzipEngine: 'igzip', gzipLevel: 3 }, 'igzip'],
    ['pigz', { gzipEngine: 'pigz', gzipLevel: 6 }, 'pigz'],
  ];
  for (const [kind, options, program] of kinds) {
    it.skipIf(program !== undefined && !commandAvailable(program))(
      `${kind}: restores with the properties matched`,
      async () => {
        const kindTarget = { ...target, name: `props-${kind.replaceAll(' ', '-')}-${suffix}` };
        const manifest = await runBackup(
          { storage, logger },
          { target: kindTarget, ...backupSettings(), ...options },
        );
        expect(manifest.database_properties_in_dump).toBe(true);
        const result = await restoreBackup(
          { storage, logger },
          {
            target: kindTarget,
            file: manifest.filename,
            ...restoreSettings(),
            discard: true,
            ...(options.encryptionKey ? { encryptionKey: options.encryptionKey } : {}),
          },
        );
        expect(result.check).toMatchObject({ properties: 'matched', content: 'matched' });
      },
      120_000,
    );
  }
});

describe('a database in LATIN1', () => {
  it('carries its comment and settings into a LATIN1 and a UTF-8 database', async () => {
    const latin1 = `warden_props_latin1_${suffix}`;
    const createLatin1 = (name: string) =>
      withClient('postgres', (client) =>
        client.query(
          `CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'`,
        ),
      );
    databases.add(latin1);
    await createLatin1(latin1);
    await withClient(latin1, async (client) => {
      await client.query(`COMMENT ON DATABASE ${quoteIdent(latin1)} IS 'café "naïve" ÿ \\ $warden$'`);
      await client.query(`ALTER DATABASE ${quoteIdent(latin1)} SET app.note = 'crème brûlée'`);
      await client.query(`ALTER ROLE postgres IN DATABASE ${quoteIdent(latin1)} SET app.who = 'Façade'`);
      await client.query('CREATE TABLE "Tâble" (v text); INSERT INTO "Tâble" VALUES ($$ß$$)');
    });
    const expected = await propertiesOf(latin1);
    expect(expected.comment).toBe('café "naïve" ÿ \\ $warden$');
    const latinTarget = {
      ...target,
      name: `props-latin1-${suffix}`,
      databaseUrl: pgUrl(latin1),
      database: latin1,
    };
    const manifest = await runBackup({ storage, logger }, { target: latinTarget, ...backupSettings() });
    expect(manifest.content?.encoding).toBe('LATIN1');
    const file = join(storeDir, manifest.key);

    const intoLatin1 = await freshDatabase('latin1', createLatin1);
    await plainRestore(file, intoLatin1, { singleTransaction: true });
    expect(await propertiesOf(intoLatin1)).toEqual(expected);
    const intoUtf8 = await freshDatabase('utf8');
    await plainRestore(file, intoUtf8, { singleTransaction: true });
    expect(await propertiesOf(intoUtf8)).toEqual(expected);
    const result = await restoreBackup(
      { storage, logger },
      { target: latinTarget, file: manifest.filename, ...restoreSettings(), discard: true },
    );
    expect(result.check).toMatchObject({ properties: 'matched', content: 'matched' });
  }, 120_000);
});

// Last: dropping the role also drops its settings on the source database.
describe('a role missing on the restoring server', () => {
  it('is a WARNING in a plain restore, which goes on, and fails Warden restore naming the setting', async () => {
    await withClient('postgres', (client) => client.query(`DROP ROLE ${quoteIdent(tenantRole)}`));
    const plain = await freshDatabase('no role');
    const { stderr } = await plainRestore(join(storeDir, backup.key), plain, { singleTransaction: true });
    const what = `setting app.tenant of role "Tenant Rolle \\u03a9 ${suffix}" in the database`;
    expect(stderr).toContain(
      `WARNING:  warden: ${what} was not restored: role "${tenantRole}" does not exist`,
    );
    const restored = await propertiesOf(plain);
    expect(restored.comment).toBe(hostileText);
    expect(restored.settings.map(([role]) => role)).toEqual(['', '', '', 'postgres']);

    const error = await restoreFailure(
      { storage, logger },
      { target, file: backup.filename, ...restoreSettings() },
      sourceName,
    );
    expect(error.problems).toEqual([
      `setting app.tenant of role ${quoteIdent(tenantRole)} in the database is missing after restore`,
    ]);
  }, 120_000);
});
