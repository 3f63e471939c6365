/**
 * Fault: a schema with more tables than the server's shared lock table can lock in one transaction.
 * A private PostgreSQL 15 cluster with a tiny lock table (`max_locks_per_transaction=10`, 40
 * connections: about 1,550 locks in all, with the slack of the shared memory, as measured), so a
 * few hundred tables exceed it; the shared server's lock table, which other tests use meanwhile, is
 * never touched.
 *
 * Each table has a primary key. pg_dump locks every table (700 locks) for the whole dump; a table's
 * `count(*)` locks the table and its index, so counts holding theirs until the dump ends would add
 * 1,400, while counts that release them batch by batch add at most 400. A restore in one
 * transaction takes more than four locks a table (table, index, TOAST table and its index, …).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  type BackupTargetSpec,
  openDumpSnapshot,
  restoreBackup,
  runBackup,
  runRestoreTest,
} from '@warden/backup';
import type { BackupManifest } from '@warden/catalog';
import { createLogger } from '@warden/logging';
import { type BackupStorage, createLocalStorage } from '@warden/storage';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PrivatePostgres, startPrivatePostgres } from './fault-helpers.js';

const DATABASE = 'many_tables';
const TABLES = 700;
const logger = createLogger({ service: 'lock-table-fault-test', level: 'silent' });

let postgres: PrivatePostgres;
let workDir: string;
let storage: BackupStorage;
let target: BackupTargetSpec;
let backup: BackupManifest | undefined;

/** Rows of table `t<i>`: 0 to 6, so an empty table and every count are both checked. */
const rowsOf = (i: number) => i % 7;

/** Runs a script through psql in autocommit (one statement, one transaction), as the superuser. */
async function runScript(database: string, script: string, extraArgs: string[] = []) {
  return execa('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', ...extraArgs], {
    input: script,
    env: { PGHOST: '127.0.0.1', PGPORT: String(postgres.port), PGUSER: 'postgres', PGDATABASE: database },
    stdout: 'ignore',
    reject: false,
  });
}

async function backupOf(): Promise<BackupManifest> {
  backup ??= await runBackup(
    { storage, logger },
    {
      target,
      spoolDir: path.join(workDir, 'spool'),
      minFreeBytes: 0,
      timeoutMs: 120_000,
      uploadRetryAttempts: 0,
      uploadRetryDelayMs: 0,
      retention: false,
    },
  );
  return backup;
}

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'warden-fault-locks-'));
  postgres = await startPrivatePostgres({
    settings: { max_locks_per_transaction: 10, max_connections: 40 },
  });
  await postgres.sql('postgres', `CREATE DATABASE ${DATABASE}`);
  const statements: string[] = [];
  for (let i = 1; i <= TABLES; i++) {
    statements.push(
      `CREATE TABLE s${i % 3}.t${i} (id int PRIMARY KEY, label text);`,
      `INSERT INTO s${i % 3}.t${i} SELECT g, 'row ' || g FROM generate_series(1, ${rowsOf(i)}) g;`,
    );
  }
  const created = await runScript(
    DATABASE,
    ['CREATE SCHEMA s0;', 'CREATE SCHEMA s1;', 'CREATE SCHEMA s2;', ...statements].join('\n'),
  );
  expect(created.exitCode, created.stderr).toBe(0);
  storage = createLocalStorage({ dir: path.join(workDir, 'store') });
  target = {
    name: DATABASE,
    environment: 'fault',
    databaseUrl: postgres.url(DATABASE),
    database: DATABASE,
    retentionDays: 30,
    keepLast: 10,
  };
});

afterAll(async () => {
  await storage?.close();
  await postgres?.destroy();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('a schema of more tables than the lock table holds at once', () => {
  it('the snapshot counts every table exactly, in its snapshot, and keeps no lock on any table', async () => {
    const snapshot = await openDumpSnapshot(postgres.url(DATABASE));
    try {
      // Written after the snapshot was taken: the counts must not see it.
      await postgres.sql(DATABASE, 'INSERT INTO s1.t1 VALUES (100, $$after the snapshot$$)');
      const counts = await snapshot.count(true);
      expect(counts.rowCountsSource).toBe('snapshot');
      expect(counts.tables).toHaveLength(TABLES);
      const t1 = counts.tables.find((table) => table.schema === 's1' && table.name === 't1');
      expect(t1?.rows).toBe(rowsOf(1));
      expect(counts.tables.every((table) => table.rows === rowsOf(Number(table.name.slice(1))))).toBe(true);
      // The counting backend, still in its transaction, holds no lock on any table it counted.
      const held = await postgres.sql(
        DATABASE,
        `SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
           JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE l.pid = (SELECT pid FROM pg_stat_activity WHERE application_name = 'warden-snapshot')
            AND n.nspname IN ('s0', 's1', 's2')`,
      );
      expect(held).toBe('0');
      const inTransaction = await postgres.sql(
        DATABASE,
        "SELECT state FROM pg_stat_activity WHERE application_name = 'warden-snapshot'",
      );
      expect(inTransaction).toBe('idle in transaction');
    } finally {
      await snapshot.close(false);
      await postgres.sql(DATABASE, 'DELETE FROM s1.t1 WHERE id = 100');
    }
  });

  it('a backup records the exact row count of every table', async () => {
    const manifest = await backupOf();
    expect(manifest.row_counts_source).toBe('snapshot');
    expect(manifest.tables).toHaveLength(TABLES);
    for (const table of manifest.tables ?? []) expect(table.rows).toBe(rowsOf(Number(table.name.slice(1))));
  });

  it('restores, and passes the restore test, where psql --single-transaction runs out of locks', async () => {
    const manifest = await backupOf();
    // The plain restore in one transaction: this schema really exceeds the lock table.
    await postgres.sql('postgres', 'CREATE DATABASE plain_restore TEMPLATE template0');
    const sql = gunzipSync(await readFile(path.join(workDir, 'store', manifest.key))).toString('utf8');
    const plain = await runScript('plain_restore', sql, ['--single-transaction']);
    expect(plain.exitCode).not.toBe(0);
    expect(plain.stderr).toMatch(/out of shared memory/);

    const restored = await restoreBackup(
      { storage, logger },
      { target, file: manifest.filename, spoolDir: path.join(workDir, 'spool'), database: 'restored' },
    );
    expect(restored.status).toBe('success');
    expect(restored.check).toMatchObject({ rowCounts: 'matched', content: 'matched', tables: TABLES });
    expect(await postgres.sql('restored', 'SELECT count(*) FROM s2.t5')).toBe(String(rowsOf(5)));

    const tested = await runRestoreTest(
      { storage, logger },
      { target, file: manifest.filename, spoolDir: path.join(workDir, 'spool') },
    );
    expect(tested.record.status, JSON.stringify(tested.record)).toBe('passed');
    expect(tested.check).toMatchObject({ rowCounts: 'matched', content: 'matched', tables: TABLES });
    // The scratch database is gone; the plain attempt's and the restore's remain.
    const databases = await postgres.sql(
      'postgres',
      'SELECT string_agg(datname, $$,$$ ORDER BY datname) FROM pg_database',
    );
    expect(databases.split(',').filter((name) => name.includes('verify'))).toEqual([]);
  });
});
