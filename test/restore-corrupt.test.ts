import { createHash } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { type BackupTargetSpec, restoreBackup, runBackup, safetyBackupWithRunBackup } from '@warden/backup';
import { type BackupManifest, dumpKeyFor, listBackups, writeManifest } from '@warden/catalog';
import { isRestoreError, type RestoreErrorCode } from '@warden/errors';
import { createLogger } from '@warden/logging';
import { type BackupStorage, createLocalStorage } from '@warden/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDatabase,
  createTestDatabase,
  dropDatabase,
  listDatabases,
  type TestDatabase,
  tableFingerprints,
  targetSpecFor,
  withClient,
} from './helpers/pg-fixtures.js';

const logger = createLogger({ service: 'restore-corrupt-test', level: 'silent' });

let source: TestDatabase;
let existing: string;
let work: string;
let storage: BackupStorage;
let target: BackupTargetSpec;
let good: BackupManifest;
let goodBytes: Buffer;
/** A psql wrapper that records every invocation except `--version`, then runs the real psql. */
let psqlPath: string;
let psqlLog: string;
let sequence = 0;

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function psqlRuns(): Promise<number> {
  const text = await readFile(psqlLog, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).length;
}

/**
 * Stores `bytes` as a backup of the target, newer than every other one. `honest` manifests describe
 * the doctored bytes (size, SHA-256, SQL size), so only a deeper check can catch them; otherwise the
 * manifest is the good backup's.
 */
async function storeBackup(bytes: Buffer, sqlBytes: number, honest: boolean): Promise<BackupManifest> {
  sequence += 1;
  const at = new Date(Date.parse(good.started_at) + sequence * 60_000);
  const stamp = at.toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 15);
  const filename = `${source.name}_test_${stamp}.sql.gz`;
  const manifest: BackupManifest = {
    ...good,
    filename,
    key: dumpKeyFor(target.name, filename),
    started_at: at.toISOString(),
    finished_at: at.toISOString(),
    ...(honest ? { bytes: bytes.length, sha256: sha256(bytes), sql_bytes: sqlBytes } : {}),
  };
  await storage.putBytes(manifest.key, bytes);
  await writeManifest(storage, manifest);
  return manifest;
}

/** This file's databases: other test files and benches create and drop theirs meanwhile. */
const isOwn = (name: string) => name.startsWith(source.name);
const ownDatabases = async () => (await listDatabases()).filter(isOwn);

async function expectRejected(
  manifest: BackupManifest,
  code: RestoreErrorCode,
  message: RegExp,
): Promise<void> {
  const before = await listDatabases();
  const existingBefore = await tableFingerprints(existing);
  const runsBefore = await psqlRuns();
  const backupsBefore = (await listBackups(storage, { target: target.name })).length;
  for (const options of [{}, { database: existing, overwrite: true }]) {
    const error = await restoreBackup(
      { storage, logger },
      {
        target,
        file: manifest.filename,
        psqlPath,
        spoolDir: join(work, 'spool'),
        takeSafetyBackup: safetyBackupWithRunBackup(
          { storage, logger },
          {
            spoolDir: join(work, 'spool'),
            minFreeBytes: 0,
            timeoutMs: 60_000,
            uploadRetryAttempts: 0,
            uploadRetryDelayMs: 0,
          },
          target,
        ),
        ...options,
      },
    ).catch((caught: unknown) => caught);
    expect(isRestoreError(error, code), String(error)).toBe(true);
    expect((error as Error).message).toMatch(message);
  }
  // No SQL ran, no database was created, the existing one is as it was, no safety backup was taken.
  expect(await psqlRuns()).toBe(runsBefore);
  expect(await ownDatabases()).toEqual(before.filter(isOwn));
  expect(await tableFingerprints(existing)).toEqual(existingBefore);
  expect((await listBackups(storage, { target: target.name })).length).toBe(backupsBefore);
  // A restore test reads the file straight into psql, checking it on the way: same verdict, and its
  // scratch database is gone.
  const tested = await restoreBackup(
    { storage, logger },
    { target, file: manifest.filename, psqlPath, spoolDir: join(work, 'spool'), discard: true },
  ).catch((caught: unknown) => caught);
  expect(isRestoreError(tested, code), String(tested)).toBe(true);
  expect((tested as Error).message).toMatch(message);
  expect(await ownDatabases()).toEqual(before.filter(isOwn));
}

beforeAll(async () => {
  source = await createTestDatabase({ prefix: 'warden_rc', seed: { orders: 3_000 } });
  existing = await createDatabase(`${source.name}_existing`);
  await withClient(existing, (client) =>
    client.query('CREATE TABLE precious (v int); INSERT INTO precious VALUES (1), (2)'),
  );
  work = await mkdtemp(join(tmpdir(), 'warden-restore-corrupt-'));
  storage = createLocalStorage({ dir: join(work, 'store') });
  target = targetSpecFor(source);
  good = await runBackup(
    { storage, logger },
    {
      target,
      spoolDir: join(work, 'spool'),
      minFreeBytes: 0,
      timeoutMs: 60_000,
      uploadRetryAttempts: 0,
      uploadRetryDelayMs: 0,
      retention: false,
    },
  );
  goodBytes = await storage.readBytes(good.key);
  psqlLog = join(work, 'psql-runs.log');
  psqlPath = join(work, 'psql-wrapper.sh');
  await writeFile(
    psqlPath,
    `#!/bin/sh\nif [ "$1" != "--version" ]; then echo "$*" >> '${psqlLog}'; fi\nexec psql "$@"\n`,
  );
  await chmod(psqlPath, 0o755);
});

afterAll(async () => {
  await dropDatabase(existing);
  await source?.drop();
  await storage?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a damaged backup is rejected before any SQL runs', () => {
  it('one flipped byte: the SHA-256 no longer matches the manifest', async () => {
    const bytes = Buffer.from(goodBytes);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = (bytes[at] ?? 0) ^ 0x01;
    const manifest = await storeBackup(bytes, good.sql_bytes, false);
    await expectRejected(manifest, 'RESTORE_INTEGRITY_FAILED', /SHA-256/);
  });

  it('one flipped byte with a manifest that matches it: the gzip stream fails its CRC', async () => {
    const bytes = Buffer.from(goodBytes);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = (bytes[at] ?? 0) ^ 0x01;
    const manifest = await storeBackup(bytes, good.sql_bytes, true);
    await expectRejected(manifest, 'RESTORE_INTEGRITY_FAILED', /does not decompress|SQL/);
  });

  it('a truncated tail: the size differs from the manifest', async () => {
    const manifest = await storeBackup(goodBytes.subarray(0, goodBytes.length - 100), good.sql_bytes, false);
    await expectRejected(manifest, 'RESTORE_INTEGRITY_FAILED', /bytes read from storage/);
  });

  it('a truncated tail with a manifest that matches it: the gzip stream ends early', async () => {
    const manifest = await storeBackup(goodBytes.subarray(0, goodBytes.length - 100), good.sql_bytes, true);
    await expectRejected(manifest, 'RESTORE_INTEGRITY_FAILED', /does not decompress/);
  });

  it('a dump cut before its completion trailer, re-compressed whole: the trailer check fails', async () => {
    const sql = gunzipSync(goodBytes);
    const cut = sql.subarray(0, Math.floor(sql.length * 0.7));
    const manifest = await storeBackup(gzipSync(cut), cut.length, true);
    await expectRejected(manifest, 'RESTORE_INTEGRITY_FAILED', /trailer/);
  });

  it('the good backup itself restores (the checks above are not simply always failing)', async () => {
    const result = await restoreBackup(
      { storage, logger },
      { target, file: good.filename, psqlPath, spoolDir: join(work, 'spool'), discard: true },
    );
    expect(result).toMatchObject({ status: 'success', discarded: true, check: { rowCounts: 'matched' } });
    expect(await listDatabases()).not.toContain(result.database);
  });
});

describe('a restore test reading straight from storage', () => {
  it('fails as a download, not as the backup, when the storage read breaks off half-way', async () => {
    const breaking: BackupStorage = Object.assign(Object.create(null), storage, {
      read: async () =>
        Readable.from(
          (async function* () {
            yield goodBytes.subarray(0, Math.floor(goodBytes.length / 2));
            throw new Error('connection reset by peer');
          })(),
        ),
    });
    const before = await listDatabases();
    const error = await restoreBackup(
      { storage: breaking, logger },
      { target, file: good.filename, psqlPath, spoolDir: join(work, 'spool'), discard: true },
    ).catch((caught: unknown) => caught);
    expect(isRestoreError(error, 'RESTORE_DOWNLOAD_FAILED'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(/connection reset by peer/);
    expect(await ownDatabases()).toEqual(before.filter(isOwn));
  });
});

describe('a dump whose SQL fails part-way', () => {
  it('drops the half-restored new database', async () => {
    const sql = gunzipSync(goodBytes).toString('utf8');
    // A statement that fails after tables were created and some rows loaded.
    const at = sql.indexOf('CREATE INDEX');
    expect(at).toBeGreaterThan(0);
    const broken = Buffer.from(`${sql.slice(0, at)}SELECT 1/0;\n${sql.slice(at)}`);
    const manifest = await storeBackup(gzipSync(broken), broken.length, true);
    const before = await listDatabases();
    // The restore test too: psql's error is psql's, not the stream's it was reading.
    for (const discard of [false, true]) {
      const error = await restoreBackup(
        { storage, logger },
        { target, file: manifest.filename, psqlPath, spoolDir: join(work, 'spool'), discard },
      ).catch((caught: unknown) => caught);
      expect(isRestoreError(error, 'RESTORE_PSQL_FAILED'), String(error)).toBe(true);
      expect((error as Error).message).toMatch(/division by zero/);
      expect((error as { permanent: boolean }).permanent).toBe(true);
      expect(await ownDatabases()).toEqual(before.filter(isOwn));
    }
  });

  it('fails as psql with its message when a data session cannot load a row', async () => {
    const sql = gunzipSync(goodBytes).toString('utf8');
    const copy = /^COPY [^\n]* FROM stdin;\n(\d+)\t/m.exec(sql);
    expect(copy).not.toBeNull();
    const at = (copy?.index ?? 0) + (copy?.[0].length ?? 0) - (copy?.[1]?.length ?? 0) - 1;
    const broken = Buffer.from(`${sql.slice(0, at)}not a number${sql.slice(at + (copy?.[1]?.length ?? 0))}`);
    const manifest = await storeBackup(gzipSync(broken), broken.length, true);
    const before = await listDatabases();
    const error = await restoreBackup(
      { storage, logger },
      { target, file: manifest.filename, psqlPath, spoolDir: join(work, 'spool'), discard: true },
    ).catch((caught: unknown) => caught);
    expect(isRestoreError(error, 'RESTORE_PSQL_FAILED'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(/invalid input syntax for type \w+: "not a number"/);
    expect((error as { permanent: boolean }).permanent).toBe(true);
    expect(await ownDatabases()).toEqual(before.filter(isOwn));
  });

  it('fails as psql, not as the stream, when psql stops at the first statement', async () => {
    // psql exits at once, with most of the stream still to come: writing it fails (EPIPE), which
    // is psql having gone, not a bad backup (a restore test would record the backup as failed).
    const broken = Buffer.concat([Buffer.from('SELECT 1/0;\n'), gunzipSync(goodBytes)]);
    const manifest = await storeBackup(gzipSync(broken), broken.length, true);
    const before = await listDatabases();
    for (const discard of [false, true]) {
      const error = await restoreBackup(
        { storage, logger },
        { target, file: manifest.filename, psqlPath, spoolDir: join(work, 'spool'), discard },
      ).catch((caught: unknown) => caught);
      expect(isRestoreError(error, 'RESTORE_PSQL_FAILED'), String(error)).toBe(true);
      expect((error as Error).message).toMatch(/division by zero/);
      expect(await ownDatabases()).toEqual(before.filter(isOwn));
    }
  });
});
