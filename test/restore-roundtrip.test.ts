import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type BackupTargetSpec,
  type RestoreProgress,
  restoreBackup,
  runBackup,
  safetyBackupWithRunBackup,
} from '@warden/backup';
import { type BackupManifest, listBackups } from '@warden/catalog';
import { isRestoreError } from '@warden/errors';
import { createLogger } from '@warden/logging';
import { type BackupStorage, createLocalStorage } from '@warden/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDatabase,
  createTestDatabase,
  dropDatabase,
  listDatabases,
  sequenceValues,
  type TestDatabase,
  tableFingerprints,
  targetSpecFor,
  testBackupSettings,
  withClient,
} from './helpers/pg-fixtures.js';
import { type CliRun, runWardenCli, testEnv } from './helpers/processes.js';
import { uniquePrefix } from './helpers/test-run.js';

const logger = createLogger({ service: 'restore-roundtrip-test', level: 'silent' });

let source: TestDatabase;
let work: string;
let storeDir: string;
let storage: BackupStorage;
let target: BackupTargetSpec;
let backup: BackupManifest;
const created = new Set<string>();

const backupSettings = () => testBackupSettings(work);

function runCli(args: string[]): Promise<CliRun> {
  return runWardenCli(
    'apps/worker/src/cli/backup-restore.ts',
    args,
    testEnv({
      DATABASE_URL: source.url,
      BACKUP_ENVIRONMENT: 'test',
      BACKUP_DIR: storeDir,
      BACKUP_SPOOL_DIR: join(work, 'cli-spool'),
      BACKUP_MIN_FREE_MB: '0',
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: uniquePrefix('restore-cli'),
      LOG_LEVEL: 'info',
    }),
  );
}

beforeAll(async () => {
  source = await createTestDatabase({ prefix: 'warden_rt', seed: { orders: 60_000 } });
  expect(source.seed?.totalRows).toBeGreaterThanOrEqual(100_000);
  work = await mkdtemp(join(tmpdir(), 'warden-restore-rt-'));
  storeDir = join(work, 'store');
  storage = createLocalStorage({ dir: storeDir });
  target = targetSpecFor(source);
  backup = await runBackup({ storage, logger }, { target, ...backupSettings() });
});

afterAll(async () => {
  for (const name of created) await dropDatabase(name);
  await source?.drop();
  await storage?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('restore round trip', () => {
  it('restores the latest backup into a new database with identical contents, checked against the manifest', async () => {
    const before = await listDatabases();
    const progress: RestoreProgress[] = [];
    const result = await restoreBackup(
      { storage, logger },
      {
        target,
        file: 'latest',
        spoolDir: join(work, 'restore-spool'),
        onProgress: (update) => progress.push(update),
      },
    );
    created.add(result.database);

    expect(result.status).toBe('success');
    expect(result.action).toBe('create');
    expect(result.file).toBe(backup.filename);
    expect(result.database).toMatch(new RegExp(`^${source.name}_restore_\\d{8}_\\d{6}$`));
    expect(before).not.toContain(result.database);
    expect(result.check).toMatchObject({ rowCounts: 'matched', schemaObjects: 'matched', tables: 5 });
    expect(result.check?.rows).toBe(source.seed?.totalRows);

    // Identical rows and contents, table by table.
    expect(await tableFingerprints(result.database)).toEqual(await tableFingerprints(source.name));
    // Sequences continue where they were: same last values, and the next value is the same in both.
    expect(await sequenceValues(result.database)).toEqual(await sequenceValues(source.name));
    const nextIn = (database: string) =>
      withClient(database, async (client) => {
        const invoice = await client.query<{ v: string }>(
          `SELECT nextval('public.invoice_number_seq')::text AS v`,
        );
        const order = await client.query<{ id: string }>(
          `INSERT INTO sales.orders (customer_id, status, total, placed_at)
           VALUES (1, 'paid', 1, now()) RETURNING id::text`,
        );
        await client.query('DELETE FROM sales.orders WHERE id = $1', [order.rows[0]?.id]);
        await client.query(`SELECT setval('public.invoice_number_seq', $1::bigint - 7)`, [
          invoice.rows[0]?.v,
        ]);
        return { invoice: invoice.rows[0]?.v, order: order.rows[0]?.id };
      });
    const restoredNext = await nextIn(result.database);
    expect(restoredNext).toEqual(await nextIn(source.name));
    expect(Number(restoredNext.order)).toBe(60_001);

    // Progress went through the phases and reported bytes restored up to the whole file.
    const phases = [...new Set(progress.map((update) => update.phase))];
    expect(phases).toEqual(['prepare', 'download', 'verify', 'restore', 'check', 'done']);
    const restoring = progress.filter((update) => update.phase === 'restore');
    expect(restoring.at(-1)?.bytes).toBe(backup.bytes);
    expect(restoring.at(-1)?.sqlBytes).toBe(backup.sql_bytes);
  });

  it('loads under an _incoming_ name: only the proven database gets the name asked for', async () => {
    // psql stand-in recording which database each psql run was given (libpq's PGDATABASE).
    const record = join(work, 'psql-databases.txt');
    const psqlPath = join(work, 'psql-recording');
    writeFileSync(record, '');
    writeFileSync(
      psqlPath,
      `#!/bin/sh\n[ "$1" = "--version" ] || echo "$PGDATABASE" >> '${record}'\nexec psql "$@"\n`,
    );
    chmodSync(psqlPath, 0o700);
    const before = await listDatabases();
    const result = await restoreBackup(
      { storage, logger },
      { target, file: 'latest', spoolDir: join(work, 'restore-spool'), psqlPath },
    );
    created.add(result.database);
    expect(result.status).toBe('success');
    const loadedInto = [...new Set(readFileSync(record, 'utf8').split('\n').filter(Boolean))];
    expect(loadedInto).toHaveLength(1);
    expect(loadedInto[0]).toContain('_incoming_');
    expect(loadedInto[0]).not.toBe(result.database);
    const after = await listDatabases();
    expect(after).toContain(result.database);
    expect(after.filter((name) => !before.includes(name))).toEqual([result.database]);
  });

  it('dry run checks the backup and reports the plan without creating anything', async () => {
    const before = await listDatabases();
    const result = await restoreBackup(
      { storage, logger },
      { target, file: backup.filename, dryRun: true, spoolDir: join(work, 'restore-spool') },
    );
    expect(result).toMatchObject({
      status: 'dry-run',
      action: 'create',
      dryRun: true,
      sha256: backup.sha256,
    });
    expect(result.check).toBeUndefined();
    expect(await listDatabases()).toEqual(before);
  });

  it('refuses an existing database without overwrite and leaves it unchanged', async () => {
    const existing = await createDatabase(`${source.name}_existing`);
    created.add(existing);
    await withClient(existing, (client) =>
      client.query('CREATE TABLE keep_me (v int); INSERT INTO keep_me VALUES (42)'),
    );
    const before = await tableFingerprints(existing);
    const error = await restoreBackup(
      { storage, logger },
      { target, file: 'latest', database: existing, spoolDir: join(work, 'restore-spool') },
    ).catch((caught: unknown) => caught);
    expect(isRestoreError(error, 'RESTORE_DATABASE_EXISTS')).toBe(true);
    expect((error as Error).message).toMatch(/overwrite/);
    expect(await tableFingerprints(existing)).toEqual(before);
  });

  it('refuses system databases and names PostgreSQL does not accept', async () => {
    for (const database of ['postgres', 'template1', 'bad\nname', 'é'.repeat(32), '']) {
      const error = await restoreBackup(
        { storage, logger },
        { target, file: 'latest', database, overwrite: true, spoolDir: join(work, 'restore-spool') },
      ).catch((caught: unknown) => caught);
      expect(isRestoreError(error, 'RESTORE_INVALID_DATABASE')).toBe(true);
    }
  });

  it('overwrite takes a safety backup first, then replaces the database in one swap', async () => {
    const existing = await createDatabase(`${source.name}_replace`);
    created.add(existing);
    await withClient(existing, (client) =>
      client.query(
        `CREATE TABLE old_data (v text); INSERT INTO old_data SELECT 'row ' || i FROM generate_series(1, 50) i`,
      ),
    );
    const result = await restoreBackup(
      { storage, logger },
      {
        target,
        file: 'latest',
        database: existing,
        overwrite: true,
        takeSafetyBackup: safetyBackupWithRunBackup({ storage, logger }, backupSettings(), target),
        spoolDir: join(work, 'restore-spool'),
      },
    );
    expect(result).toMatchObject({ status: 'success', action: 'replace', database: existing });
    expect(result.safety_backup).toMatch(new RegExp(`^${existing}_test_\\d{8}_\\d{6}\\.sql\\.gz$`));

    // The replaced database now holds the backup; the old table is gone, no helper database is left.
    expect(await tableFingerprints(existing)).toEqual(await tableFingerprints(source.name));
    const after = await listDatabases();
    expect(after.filter((name) => name.startsWith(`${existing}_`))).toEqual([]);

    // The safety backup is a real, checked backup of the old contents, stored under the target…
    const safety = (await listBackups(storage, { target: target.name })).find(
      (manifest) => manifest.filename === result.safety_backup,
    );
    expect(safety).toMatchObject({
      database: existing,
      trigger: 'pre-restore',
      tables: [{ schema: 'public', name: 'old_data', rows: 50 }],
    });
    // …and "latest" still means the newest backup of the target's own database.
    const again = await restoreBackup(
      { storage, logger },
      { target, file: 'latest', dryRun: true, spoolDir: join(work, 'restore-spool') },
    );
    expect(again.file).toBe(backup.filename);
  });
});

describe('encrypted backups', () => {
  it('restore with the key, and are refused without it (ENCRYPTION_KEY_MISSING) or with another (ENCRYPTION_KEY_MISMATCH)', async () => {
    const key = randomBytes(32).toString('hex');
    const encTarget = { ...target, name: `${source.name}-enc` };
    const encrypted = await runBackup(
      { storage, logger },
      { target: encTarget, ...backupSettings(), encryptionKey: key, retention: false },
    );
    expect(encrypted.encryption?.keyId).toBeDefined();
    const spoolDir = join(work, 'restore-spool');
    const before = await listDatabases();
    for (const encryptionKey of [undefined, randomBytes(32).toString('hex')]) {
      const error = await restoreBackup(
        { storage, logger },
        { target: encTarget, file: 'latest', spoolDir, ...(encryptionKey ? { encryptionKey } : {}) },
      ).catch((caught: unknown) => caught);
      const code = encryptionKey ? 'ENCRYPTION_KEY_MISMATCH' : 'ENCRYPTION_KEY_MISSING';
      expect(isRestoreError(error, code), String(error)).toBe(true);
    }
    expect(await listDatabases()).toEqual(before);

    const result = await restoreBackup(
      { storage, logger },
      { target: encTarget, file: encrypted.filename, spoolDir, encryptionKey: key },
    );
    created.add(result.database);
    expect(result).toMatchObject({ status: 'success', check: { rowCounts: 'matched' } });
    expect(await tableFingerprints(result.database)).toEqual(await tableFingerprints(source.name));
  });
});

describe('npm run backup:restore', () => {
  it('refuses an existing database without --overwrite (exit 1, clear message, database unchanged)', async () => {
    const existing = await createDatabase(`${source.name}_cli`);
    created.add(existing);
    await withClient(existing, (client) =>
      client.query('CREATE TABLE keep_me (v int); INSERT INTO keep_me VALUES (7)'),
    );
    const before = await tableFingerprints(existing);
    const run = await runCli(['--latest', '--database', existing]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`database "${existing}" already exists.*--overwrite`));
    expect(JSON.parse(run.stdout.trim())).toMatchObject({
      status: 'failed',
      code: 'RESTORE_DATABASE_EXISTS',
    });
    expect(await tableFingerprints(existing)).toEqual(before);
  });

  it('rejects --file together with --latest as a usage error', async () => {
    const run = await runCli(['--latest', `--file=${backup.filename}`]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/usage: npm run backup:restore/);
  });

  it('restores --file=NAME into a new database, prints the result and exits 0', async () => {
    const dry = await runCli([`--file=${backup.filename}`, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout.trim())).toMatchObject({ status: 'dry-run', file: backup.filename });

    const run = await runCli([`--file=${backup.filename}`, '--database', `${source.name}_cli_new`]);
    created.add(`${source.name}_cli_new`);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout.trim());
    expect(result).toMatchObject({
      status: 'success',
      database: `${source.name}_cli_new`,
      action: 'create',
      check: { rowCounts: 'matched' },
    });
    expect(await tableFingerprints(`${source.name}_cli_new`)).toEqual(await tableFingerprints(source.name));
  });
});
