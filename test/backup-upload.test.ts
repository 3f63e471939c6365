import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type BackupTargetSpec,
  checkBackupFileIntegrity,
  type RunBackupOptions,
  runBackup,
} from '@warden/backup';
import { type BackupManifest, dumpKeyFor, listBackups, manifestKeyFor } from '@warden/catalog';
import { BackupError, StorageError } from '@warden/errors';
import { createLogger } from '@warden/logging';
import { type BackupStorage, createLocalStorage } from '@warden/storage';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { writePgDumpWrapper } from './helpers/pg-dump-wrapper.js';
import { createTestDatabase, type TestDatabase } from './helpers/pg-fixtures.js';

const logger = createLogger({ service: 'backup-upload-test', level: 'silent' });

let db: TestDatabase;
let work: string;
let spoolDir: string;
let storeDir: string;
let pgDumpCounter: string;
let countingPgDump: string;

function target(name: string): BackupTargetSpec {
  return { name, environment: 'test', databaseUrl: db.url, database: db.name, retentionDays: 7, keepLast: 2 };
}

function options(name: string, overrides: Partial<RunBackupOptions> = {}): RunBackupOptions {
  return {
    target: target(name),
    spoolDir,
    minFreeBytes: 1024 * 1024,
    compression: 'gzip',
    gzipLevel: 1,
    rowCounts: true,
    pgDumpPath: countingPgDump,
    timeoutMs: 60_000,
    uploadRetryAttempts: 3,
    uploadRetryDelayMs: 300_000,
    ...overrides,
  };
}

async function dumpRuns(): Promise<number> {
  const text = await readFile(pgDumpCounter, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).length;
}

/** Local storage whose `putFile` fails the first `failures` calls. */
function flakyStorage(inner: BackupStorage, failures: number): BackupStorage & { putFileCalls: number } {
  const flaky = Object.create(inner) as BackupStorage & { putFileCalls: number };
  flaky.putFileCalls = 0;
  flaky.putFile = async (key, filePath, putOptions) => {
    flaky.putFileCalls += 1;
    if (flaky.putFileCalls <= failures) {
      throw new StorageError('STORAGE_UNAVAILABLE', `simulated outage #${flaky.putFileCalls}`);
    }
    return inner.putFile(key, filePath, putOptions);
  };
  return flaky;
}

beforeAll(async () => {
  db = await createTestDatabase({ prefix: 'warden_bkup', seed: { orders: 6000 } });
  work = await mkdtemp(join(tmpdir(), 'warden-backup-upload-'));
  await mkdir(join(work, 'bin'));
  pgDumpCounter = join(work, 'pg_dump.runs');
  // Counts real dumps (not `--version` probes), then runs the real pg_dump.
  countingPgDump = writePgDumpWrapper(join(work, 'bin'), 'pg_dump', `echo run >> '${pgDumpCounter}'`);
});

beforeEach(async () => {
  spoolDir = await mkdtemp(join(work, 'spool-'));
  storeDir = await mkdtemp(join(work, 'store-'));
  await rm(pgDumpCounter, { force: true });
});

afterAll(async () => {
  await db?.drop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('upload retries', () => {
  it('retries the upload without dumping again and stores exactly one backup', async () => {
    const storage = flakyStorage(createLocalStorage({ dir: storeDir }), 2);
    const sleeps: number[] = [];
    const retries: [number, string, boolean][] = [];
    const manifest = await runBackup(
      { storage, logger, sleep: async (ms) => void sleeps.push(ms) },
      options('flaky', {
        onUploadRetry: (attempt, error, final) => void retries.push([attempt, error.code, final]),
      }),
    );

    expect(storage.putFileCalls).toBe(3);
    expect(await dumpRuns()).toBe(1);
    expect(sleeps).toEqual([300_000, 300_000]);
    expect(retries).toEqual([
      [1, 'UPLOAD_FAILED', false],
      [2, 'UPLOAD_FAILED', false],
    ]);
    expect((await storage.list('flaky/')).map((object) => object.key)).toEqual([
      manifest.key,
      manifestKeyFor(manifest.key),
    ]);
    expect(await listBackups(storage, { target: 'flaky' })).toEqual([manifest]);
    const stored = await storage.readBytes(manifest.key);
    expect(createHash('sha256').update(stored).digest('hex')).toBe(manifest.sha256);
    expect(await readdir(spoolDir)).toEqual([]);
  });

  it('gives up after the retries with UPLOAD_FAILED and keeps the integrity-checked spool file', async () => {
    const storage = flakyStorage(createLocalStorage({ dir: storeDir }), 4);
    const sleeps: number[] = [];
    const finals: boolean[] = [];
    const error = await runBackup(
      { storage, logger, sleep: async (ms) => void sleeps.push(ms) },
      options('down', { onUploadRetry: (_attempt, _error, final) => void finals.push(final) }),
    ).then(
      () => undefined,
      (caught: unknown) => caught,
    );

    expect(error).toBeInstanceOf(BackupError);
    const backupError = error as BackupError;
    expect(backupError.code).toBe('UPLOAD_FAILED');
    expect(backupError.permanent).toBe(false);
    expect(backupError.message).toContain('simulated outage #4');
    expect(storage.putFileCalls).toBe(4);
    expect(sleeps).toHaveLength(3);
    expect(await dumpRuns()).toBe(1);
    expect(await storage.list('')).toEqual([]);

    const spooled = await readdir(spoolDir);
    expect(spooled).toHaveLength(1);
    const spoolPath = join(spoolDir, spooled[0] ?? '');
    expect(backupError.message).toContain(spoolPath);
    expect(backupError.spoolPath).toBe(spoolPath);
    expect(finals).toEqual([false, false, false, true]);
    expect(spoolPath.endsWith('.sql.gz')).toBe(true);
    await checkBackupFileIntegrity(spoolPath, { compression: 'gzip' });
  });

  it('rejects a stored object whose size or checksum differs (UPLOAD_VERIFY_FAILED)', async () => {
    const inner = createLocalStorage({ dir: storeDir });
    for (const lie of [
      (object: { size: number }) => ({ ...object, size: object.size - 1 }),
      (object: { size: number }) => ({ ...object, sha256: 'f'.repeat(64) }),
    ]) {
      const lying = Object.create(inner) as BackupStorage;
      lying.head = async (key) => {
        const object = await inner.head(key);
        return object && { ...object, ...lie(object) };
      };
      const error = await runBackup(
        { storage: lying, logger },
        options('lying', { uploadRetryAttempts: 0 }),
      ).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect((error as BackupError).code).toBe('UPLOAD_VERIFY_FAILED');
      // No manifest: the catalog does not know this backup, and the bad object was removed.
      expect(await inner.list('lying/')).toEqual([]);
      for (const file of await readdir(spoolDir)) await rm(join(spoolDir, file));
    }
  });
});

describe('retention after a successful backup', () => {
  async function plantOld(storage: BackupStorage, name: string, daysAgo: number): Promise<BackupManifest> {
    const startedAt = new Date(Date.now() - daysAgo * 24 * 60 * 60 * 1000);
    const stamp = startedAt.toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 15);
    const filename = `${db.name}_test_${stamp}.sql.gz`;
    const key = dumpKeyFor(name, filename);
    const body = Buffer.from(`old dump ${daysAgo}`);
    await storage.putBytes(key, body);
    const manifest: BackupManifest = {
      formatVersion: 1,
      status: 'success',
      target: name,
      environment: 'test',
      database: db.name,
      filename,
      key,
      bytes: body.length,
      size_mb: 0,
      sha256: createHash('sha256').update(body).digest('hex'),
      sql_bytes: 100,
      compression: 'gzip',
      started_at: startedAt.toISOString(),
      finished_at: startedAt.toISOString(),
      duration_ms: 1,
      location: storage.describe(key),
      server_version: '15',
      pg_dump_version: '15',
      host: 'old-host',
    };
    await storage.putBytes(manifestKeyFor(key), JSON.stringify(manifest));
    return manifest;
  }

  it('deletes expired backups of this target only, after the new one is stored', async () => {
    const storage = createLocalStorage({ dir: storeDir });
    const expired = [await plantOld(storage, 'app', 40), await plantOld(storage, 'app', 20)];
    const recent = await plantOld(storage, 'app', 2);
    // A target whose name extends this one's must never be touched.
    const neighbour = await plantOld(storage, 'app2', 90);
    await storage.putBytes('app/notes.txt', 'not a backup');

    const manifest = await runBackup({ storage, logger, sleep: async () => undefined }, options('app'));

    const remaining = await listBackups(storage, { target: 'app' });
    expect(remaining.map((item) => item.filename)).toEqual([manifest.filename, recent.filename]);
    for (const gone of expired) {
      expect(await storage.head(gone.key)).toBeUndefined();
      expect(await storage.head(manifestKeyFor(gone.key))).toBeUndefined();
    }
    expect(await listBackups(storage, { target: 'app2' })).toEqual([neighbour]);
    expect(await storage.head('app/notes.txt')).toBeDefined();
    expect((await stat(storage.describe(neighbour.key))).isFile()).toBe(true);
  });

  it('keeps old backups when retention is off', async () => {
    const storage = createLocalStorage({ dir: storeDir });
    const old = await plantOld(storage, 'keep', 40);
    await runBackup({ storage, logger }, options('keep', { retention: false }));
    expect((await listBackups(storage, { target: 'keep' })).map((item) => item.filename)).toContain(
      old.filename,
    );
  });
});
