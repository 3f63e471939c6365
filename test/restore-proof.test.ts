import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  type BackupTargetSpec,
  checkRestoredContent,
  parseDatabaseUrl,
  restoreBackup,
  runBackup,
  runRestoreTest,
} from '@warden/backup';
import type { BackupManifest } from '@warden/catalog';
import { isRestoreError, type RestoreError } from '@warden/errors';
import { createLogger } from '@warden/logging';
import { databaseNameSlug } from '@warden/names';
import { type BackupStorage, createLocalStorage } from '@warden/storage';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { doctorBackup, restoreFailure as failedRestore } from './helpers/doctored-backup.js';
import {
  createDatabase,
  dropDatabase,
  pgUrl,
  tableFingerprints,
  targetSpecFor,
  testBackupSettings,
  withClient,
} from './helpers/pg-fixtures.js';

const logger = createLogger({ service: 'restore-proof-test', level: 'silent' });
const suffix = randomBytes(4).toString('hex');
/** Space, uppercase, "$" and non-ASCII letters in one name. */
const sourceName = `Wärden Proof$ ${suffix}`;
const tenantRole = `warden_proof_tenant_${suffix}`;

/** Categories a real schema has and a row count alone cannot prove. */
const HOSTILE_SCHEMA = `
CREATE EXTENSION citext;
CREATE EXTENSION hstore;
CREATE SCHEMA dot;
CREATE SCHEMA "dot.ted";
CREATE SCHEMA "Ünï Schéma";
-- Joined with a dot, both are dot.ted.name.
CREATE TABLE dot."ted.name" (id int PRIMARY KEY, v text);
CREATE TABLE "dot.ted".name (id int PRIMARY KEY, v text);
INSERT INTO dot."ted.name" VALUES (1, 'same'), (2, 'rows');
INSERT INTO "dot.ted".name VALUES (1, 'same'), (2, 'rows');
CREATE TABLE "Ünï Schéma"."Tâble ""quoted""" (
  id serial PRIMARY KEY, t text, c citext, h hstore, j jsonb, b bytea, f float8, r real,
  ts timestamptz, iv interval, arr int[], n numeric
);
INSERT INTO "Ünï Schéma"."Tâble ""quoted""" (t, c, h, j, b, f, r, ts, iv, arr, n) VALUES
  (E'tab\\there', 'MiXeD', 'a=>1, "b c"=>NULL', '{"k": [1, "ü", null]}', '\\x00ff10', 'NaN', 0.1, '2024-02-29 23:59:59.999999+13', '1 year 2 mons -3 days', '{1,NULL,3}', 1e-30),
  (E'new\\nline and back\\\\slash', '', '', '[]', '', '-Infinity', -0, 'infinity', '-178000000 years', '{}', 'NaN'),
  ('', NULL, NULL, NULL, NULL, 1.0000000000000002, 3.4e38, '1970-01-01 00:00:00+00', '0', NULL, 123456789012345678901234567890.123),
  ('😀 ünï 名前 \\.', 'x', 'k=>v', '"\\u00e9 escaped"', '\\x5c2e', -0.0, 1e-45, now(), '1 microsecond', '{-2147483648}', -0.0);
CREATE TABLE events (id int, at date, payload text) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO events SELECT i, date '2024-01-01' + i, repeat('p', i % 50) FROM generate_series(1, 600) i;
CREATE TABLE parent (id int, v text);
CREATE TABLE child (extra text) INHERITS (parent);
INSERT INTO parent VALUES (1, 'parent only');
INSERT INTO child VALUES (2, 'child', 'extra');
CREATE TABLE tenant_rows (tenant text, v text);
ALTER TABLE tenant_rows ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_only ON tenant_rows USING (tenant = current_setting('app.tenant', true));
INSERT INTO tenant_rows VALUES ('acme', 'a'), ('other', 'b');
CREATE SEQUENCE "Séq";
SELECT nextval('"Séq"') FROM generate_series(1, 5);
SELECT lo_from_bytea(0, 'a large object'), lo_from_bytea(0, '\\x000102ff'::bytea);
CREATE TABLE ddl_audit (id serial PRIMARY KEY, tag text, at timestamptz DEFAULT now());
CREATE FUNCTION audit_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.ddl_audit (tag) VALUES (tg_tag); END $$;
CREATE EVENT TRIGGER audit_ddl ON ddl_command_end EXECUTE FUNCTION audit_ddl();
-- Big enough (about 1,000 pages) to be read back in page ranges by several sessions.
CREATE TABLE big (id int PRIMARY KEY, payload text);
INSERT INTO big SELECT i, repeat(md5(i::text), 3) FROM generate_series(1, 60000) i;
-- pg_dump refreshes this after creating the event trigger: the DDL the trigger would record.
CREATE MATERIALIZED VIEW dotted_count AS SELECT count(*) AS n FROM dot."ted.name";
-- Lines inside a literal and a function body that read like a dump's own statements.
COMMENT ON TABLE parent IS E'looks like data:\nCOPY dot."ted.name" (id, v) FROM stdin;\n9\tfake\n\\.\nSELECT pg_catalog.setval(''public."Séq"'', 99, true);\nend';
CREATE FUNCTION dump_lookalike() RETURNS text LANGUAGE sql AS $body$
SELECT $q$
COPY "dot.ted".name (id, v) FROM stdin;
8	fake
.
$q$
$body$;
`;

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

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'warden-restore-proof-'));
  storeDir = join(work, 'store');
  storage = createLocalStorage({ dir: storeDir });
  await createDatabase(sourceName);
  await withClient('postgres', async (client) => {
    await client.query(`CREATE ROLE ${quoteIdent(tenantRole)}`);
    await client.query(`ALTER DATABASE ${quoteIdent(sourceName)} SET app.tenant = 'acme'`);
    await client.query(
      `ALTER DATABASE ${quoteIdent(sourceName)} SET search_path = "$user", public, "dot.ted"`,
    );
    await client.query(`ALTER ROLE postgres IN DATABASE ${quoteIdent(sourceName)} SET app.who = 'operator'`);
    await client.query(
      `ALTER ROLE ${quoteIdent(tenantRole)} IN DATABASE ${quoteIdent(sourceName)} SET app.tenant = 'other'`,
    );
    await client.query(`COMMENT ON DATABASE ${quoteIdent(sourceName)} IS 'hostile ''proof'' database'`);
  });
  await withClient(sourceName, (client) => client.query(HOSTILE_SCHEMA));
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

async function auditRows(database: string): Promise<number> {
  return withClient(database, async (client) => {
    const { rows } = await client.query<{ n: string }>('SELECT count(*)::text AS n FROM public.ddl_audit');
    return Number(rows[0]?.n);
  });
}

describe('proof of content', () => {
  it('records tables by schema and name apart, sequences, large objects, properties and event triggers', () => {
    expect(backup.database).toBe(sourceName);
    expect(backup.filename.startsWith(`${databaseNameSlug(sourceName)}_test_`)).toBe(true);
    const dotted = backup.content?.tables.filter(
      (table) => `${table.schema}.${table.name}` === 'dot.ted.name',
    );
    expect(dotted?.map((table) => [table.schema, table.name]).sort()).toEqual([
      ['dot', 'ted.name'],
      ['dot.ted', 'name'],
    ]);
    // Same rows, different tables: the digests agree, the identities do not.
    expect(dotted?.[0]?.digest).toBe(dotted?.[1]?.digest);
    expect(backup.tables?.filter((table) => table.name.endsWith('name')).length).toBe(2);
    expect(backup.content?.sequences).toContainEqual({
      schema: 'public',
      name: 'Séq',
      value: '5',
      is_called: true,
    });
    expect(backup.content?.large_objects?.count).toBe(2);
    expect(backup.event_triggers).toEqual([{ name: 'audit_ddl', enabled: 'O' }]);
    expect(backup.database_properties?.comment).toBe("hostile 'proof' database");
    expect(backup.database_properties?.settings).toEqual(
      expect.arrayContaining([
        { role: null, name: 'app.tenant', value: 'acme' },
        { role: 'postgres', name: 'app.who', value: 'operator' },
        { role: tenantRole, name: 'app.tenant', value: 'other' },
      ]),
    );
  });

  it('restores with the proof matched, event triggers silent, properties restored', async () => {
    const audited = await auditRows(sourceName);
    const result = await restoreBackup(
      { storage, logger },
      { target, file: backup.filename, ...restoreSettings() },
    );
    databases.add(result.database);
    expect(result.check).toMatchObject({
      rowCounts: 'matched',
      schemaObjects: 'matched',
      content: 'matched',
      properties: 'matched',
    });
    expect(await auditRows(result.database)).toBe(audited);
    expect(await tableFingerprints(result.database)).toEqual(await tableFingerprints(sourceName));
    // The RLS policy reads the restored database setting.
    const visible = await withClient(result.database, async (client) => {
      await client.query(`CREATE ROLE ${quoteIdent(`${tenantRole}_reader`)}`);
      try {
        await client.query(`GRANT SELECT ON tenant_rows TO ${quoteIdent(`${tenantRole}_reader`)}`);
        await client.query(`SET ROLE ${quoteIdent(`${tenantRole}_reader`)}`);
        await client.query("SELECT set_config('app.tenant', current_setting('app.tenant'), false)");
        const { rows } = await client.query<{ tenant: string }>('SELECT tenant FROM public.tenant_rows');
        await client.query('RESET ROLE');
        return rows.map((row) => row.tenant);
      } finally {
        await client.query('RESET ROLE');
        await client.query(`REVOKE ALL ON tenant_rows FROM ${quoteIdent(`${tenantRole}_reader`)}`);
        await client.query(`DROP ROLE ${quoteIdent(`${tenantRole}_reader`)}`);
      }
    });
    expect(visible).toEqual(['acme']);
  }, 120_000);

  it('an independent gunzip | psql of the same file gives identical contents', async () => {
    const plain = `${sourceName} plain`;
    await createDatabase(plain);
    databases.add(plain);
    const sql = gunzipSync(await readFile(join(storeDir, backup.key)));
    // The documented manual restore: replica mode so the dump's event trigger stays silent.
    await execa('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1'], {
      input: sql,
      env: {
        PGHOST: '127.0.0.1',
        PGUSER: 'postgres',
        PGDATABASE: plain,
        PGOPTIONS: '-c session_replication_role=replica',
      },
      stdout: 'ignore',
    });
    expect(await tableFingerprints(plain)).toEqual(await tableFingerprints(sourceName));
    const url = pgUrl(plain);
    const { problems, check } = await checkRestoredContent({
      manifest: backup,
      url,
      params: parseDatabaseUrl(url),
      psqlPath: 'psql',
      signal: AbortSignal.timeout(60_000),
    });
    expect(problems).toEqual([]);
    expect(check).toMatchObject({ content: 'matched', properties: 'matched' });
  }, 120_000);

  it('refuses, naming the trigger and the fix, when the restoring role may not silence event triggers', async () => {
    const restorer = `warden_proof_restorer_${suffix}`;
    await withClient('postgres', (client) =>
      client.query(`CREATE ROLE ${quoteIdent(restorer)} LOGIN CREATEDB`),
    );
    try {
      const error = await restoreBackup(
        { storage, logger },
        {
          target: { ...target, databaseUrl: pgUrl(sourceName, { user: restorer }) },
          file: backup.filename,
          ...restoreSettings(),
        },
      ).catch((caught: unknown) => caught);
      expect(isRestoreError(error, 'RESTORE_EVENT_TRIGGERS'), String(error)).toBe(true);
      expect((error as Error).message).toContain('"audit_ddl"');
      expect((error as Error).message).toContain(
        `GRANT SET ON PARAMETER session_replication_role TO ${quoteIdent(restorer)}`,
      );
    } finally {
      await withClient('postgres', (client) => client.query(`DROP ROLE ${quoteIdent(restorer)}`));
    }
  }, 60_000);

  it('the restore test passes on a database with a DDL-auditing event trigger', async () => {
    const outcome = await runRestoreTest(
      { storage, logger },
      { target, file: backup.filename, ...restoreSettings() },
    );
    expect(outcome.record).toMatchObject({ status: 'passed' });
    expect(outcome.check?.content).toBe('matched');
  }, 120_000);
});

/** A copy of the backup whose SQL was edited; re-compressed and with a manifest whose checksums fit. */
function doctored(label: string, edit: (sql: string) => string): Promise<string> {
  return doctorBackup({ storage }, storeDir, backup, label, edit);
}

function restoreFailure(file: string): Promise<RestoreError> {
  return failedRestore({ storage, logger }, { target, file, ...restoreSettings() }, sourceName);
}

describe('doctored backups are caught, naming the table or object', () => {
  it('one row removed from one of two tables whose names collide when joined with a dot', async () => {
    const file = await doctored('-row', (sql) =>
      sql.replace(/(COPY "dot\.ted"\.name \(id, v\) FROM stdin;\n)1\tsame\n/, '$1'),
    );
    const error = await restoreFailure(file);
    expect(error.problems).toEqual([
      `table "dot.ted"."name": 2 rows in the backup's snapshot, 1 after restore`,
    ]);
  }, 120_000);

  it('one value changed', async () => {
    const file = await doctored('-value', (sql) => sql.replace('\tMiXeD\t', '\tMiXeS\t'));
    const error = await restoreFailure(file);
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(
      /^table "Ünï Schéma"\."Tâble ""quoted""": data differs from the backup/,
    );
  }, 120_000);

  it('one value changed in a table read back in page ranges', async () => {
    const file = await doctored('-big', (sql) => sql.replace(/^30000\t[0-9a-f]/m, '30000\tX'));
    const error = await restoreFailure(file);
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^table "public"\."big": data differs from the backup/);
  }, 120_000);

  it('a sequence rewound', async () => {
    const file = await doctored('-seq', (sql) =>
      sql.replace(
        `SELECT pg_catalog.setval('public."Séq"', 5, true);`,
        `SELECT pg_catalog.setval('public."Séq"', 1, true);`,
      ),
    );
    const error = await restoreFailure(file);
    expect(error.problems).toEqual(['sequence "public"."Séq": 5 in the backup, 1 after restore']);
  }, 120_000);

  it('a large object emptied', async () => {
    const file = await doctored('-lo', (sql) =>
      sql.replace(/SELECT pg_catalog\.lowrite\(0, '\\x000102ff'\);\n/, ''),
    );
    const error = await restoreFailure(file);
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(
      /^large objects: contents differ from the backup \(empty after restore: OID \d+\)/,
    );
  }, 120_000);

  it('a database setting missing', async () => {
    // The role that had a setting in the database is gone from the server the backup is restored on.
    const file = backup.filename;
    await withClient('postgres', (client) => client.query(`DROP ROLE ${quoteIdent(tenantRole)}`));
    try {
      const error = await restoreFailure(file);
      expect(error.problems).toEqual([
        `setting app.tenant of role "${tenantRole}" in the database is missing after restore`,
      ]);
    } finally {
      await withClient('postgres', (client) => client.query(`CREATE ROLE ${quoteIdent(tenantRole)}`));
    }
  }, 120_000);
});

describe('a database in a single-byte encoding', () => {
  it('non-ASCII schema, table, column and sequence names in a LATIN1 database restore with the proof matched', async () => {
    const latin1 = `warden_proof_latin1_${suffix}`;
    databases.add(latin1);
    await withClient('postgres', (client) =>
      client.query(
        `CREATE DATABASE ${quoteIdent(latin1)} TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'`,
      ),
    );
    await withClient(latin1, (client) =>
      client.query(`
        CREATE SCHEMA "Schéma";
        CREATE TABLE "Schéma"."Tâble ""à"" \\ ß" (id int PRIMARY KEY, "cölumn" text);
        INSERT INTO "Schéma"."Tâble ""à"" \\ ß" VALUES (1, 'café'), (2, 'naïve ÿ'), (3, NULL);
        CREATE SEQUENCE "Schéma"."Séq";
        SELECT setval('"Schéma"."Séq"', 7);`),
    );
    const latinTarget: BackupTargetSpec = {
      ...target,
      name: `proof-latin1-${suffix}`,
      databaseUrl: pgUrl(latin1),
      database: latin1,
    };
    const manifest = await runBackup({ storage, logger }, { target: latinTarget, ...backupSettings() });
    expect(manifest.content?.encoding).toBe('LATIN1');
    expect(manifest.content?.tables).toEqual([
      expect.objectContaining({
        schema: 'Schéma',
        name: 'Tâble "à" \\ ß',
        columns: ['id', 'cölumn'],
        rows: 3,
      }),
    ]);
    expect(manifest.content?.sequences).toEqual([
      { schema: 'Schéma', name: 'Séq', value: '7', is_called: true },
    ]);
    const result = await restoreBackup(
      { storage, logger },
      { target: latinTarget, file: manifest.filename, ...restoreSettings(), discard: true },
    );
    expect(result.check).toMatchObject({
      rowCounts: 'matched',
      schemaObjects: 'matched',
      content: 'matched',
    });
  }, 120_000);
});
