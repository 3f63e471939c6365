/**
 * Jobs planted straight into Redis (what the admin token can do through Bull Board's "add job", or
 * anyone with write access to Redis): a real worker process, the real Redis and Postgres, a local
 * backup directory. Job data may name things, never say where they are or what they contain.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { listBackups } from '@warden/catalog';
import { JOB_NAMES, QUEUE_NAMES } from '@warden/queue';
import { createLocalStorage } from '@warden/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/pg-fixtures.js';
import { startWardenProcess, testEnv, type WardenProcess, waitForJobEnd } from '../helpers/processes.js';
import { createTestQueue, TEST_REDIS_URL } from '../helpers/queues.js';

const queuePrefix = `warden-planted-${randomBytes(4).toString('hex')}`;
const backups = createTestQueue({ prefix: queuePrefix });
const restores = createTestQueue({ prefix: queuePrefix, name: QUEUE_NAMES.restores });

let database: TestDatabase;
let workDir: string;
let backupDir: string;
let spoolDir: string;
let worker: WardenProcess;

/** Every file under `dir` with its SHA-256, to show that nothing was added, changed or removed. */
function snapshotTree(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  if (!existsSync(dir)) return files;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    files[path.relative(dir, full)] = createHash('sha256').update(readFileSync(full)).digest('hex');
  }
  return files;
}

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'warden-planted-'));
  backupDir = path.join(workDir, 'backups');
  spoolDir = path.join(workDir, 'spool');
  database = await createTestDatabase({ prefix: 'warden_planted', seed: { orders: 200 } });
  worker = startWardenProcess(
    'apps/worker/src/main.ts',
    testEnv({
      DATABASE_URL: database.url,
      BACKUP_ENVIRONMENT: 'planted',
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: queuePrefix,
      BACKUP_DIR: backupDir,
      BACKUP_SPOOL_DIR: spoolDir,
      BACKUP_MIN_FREE_MB: '0',
      WORKER_METRICS_PORT: '0',
    }),
  );
  await worker.waitForLine(/"msg":"worker started"/, 60_000);
});

afterAll(async () => {
  await worker?.stop();
  await backups.close();
  await restores.close();
  await database?.drop();
  await rm(workDir, { recursive: true, force: true });
});

describe('a backup job planted in Redis', () => {
  it('cannot copy a local file into storage, delete it, or overwrite an existing backup', async () => {
    // An existing, real backup the planted jobs will try to overwrite.
    const real = await waitForJobEnd(
      backups.queue,
      await backups.queue.add(JOB_NAMES.backupCreate, { target: database.name }),
      90_000,
    );
    expect(real.failedReason).toBeUndefined();
    const existing = (
      await listBackups(createLocalStorage({ dir: backupDir }), { target: database.name })
    )[0];
    if (!existing) throw new Error('the real backup is missing');

    // A file the worker can read, outside every Warden directory.
    const secret = path.join(workDir, 'secret.txt');
    writeFileSync(secret, `not for backup storage ${randomBytes(16).toString('hex')}\n`);
    const secretBytes = statSync(secret).size;
    const secretSha256 = createHash('sha256').update(readFileSync(secret)).digest('hex');
    const storedBefore = snapshotTree(backupDir);

    const forgedManifest = {
      ...existing,
      bytes: secretBytes,
      size_mb: 0,
      sha256: secretSha256,
      location: '',
    };
    const planted: Record<string, unknown>[] = [
      // What an older worker wrote into job data: a path and a manifest, here naming the secret
      // file and the existing backup's key, with the secret file's true size and checksum.
      {
        target: database.name,
        trigger: 'api',
        upload: { spoolPath: secret, host: hostname(), attempts: 0, manifest: forgedManifest },
      },
      // The current form names only a file; this one was never spooled by this worker.
      { target: database.name, upload: { file: existing.filename, host: hostname(), attempts: 0 } },
      // A name outside the target's naming pattern, and one climbing out of the spool directory.
      { target: database.name, upload: { file: 'secret.txt', host: hostname(), attempts: 0 } },
      { target: database.name, upload: { file: '../secret.txt', host: hostname(), attempts: 0 } },
    ];
    const reasons: string[] = [];
    for (const data of planted) {
      const job = await backups.queue.add(JOB_NAMES.backupCreate, data);
      const done = await waitForJobEnd(backups.queue, job, 60_000);
      expect(await done.getState()).toBe('failed');
      reasons.push(done.failedReason ?? '');
    }
    expect(reasons[0]).toMatch(/invalid backup job data: .*paths and manifests in job data are refused/);
    expect(reasons[1]).toContain(`no spool record written by this worker for ${existing.filename}`);
    expect(reasons[2]).toContain(`"secret.txt" is not a backup file name of target "${database.name}"`);
    expect(reasons[3]).toMatch(/invalid backup job data: upload\.file: must be a plain file name/);
    for (const reason of reasons) {
      // No oracle: a refusal never quotes a size or a checksum.
      expect(reason).not.toContain(secretSha256);
      // As a number of its own: the file names quoted carry random hex and timestamps.
      expect(reason).not.toMatch(new RegExp(`(^|[^0-9a-f])${secretBytes}([^0-9a-f]|$)`));
    }

    // The file is intact, nothing new is stored and the existing backup is unchanged.
    expect(createHash('sha256').update(readFileSync(secret)).digest('hex')).toBe(secretSha256);
    expect(snapshotTree(backupDir)).toEqual(storedBefore);
    expect(readdirSync(spoolDir)).toEqual([]);
  });

  it('refuses a spooled dump that changed after its record was written, and deletes nothing', async () => {
    // A real spooled dump waiting for a retry: its record as the worker wrote it, then the dump
    // swapped for other bytes of the same length.
    const storedBefore = snapshotTree(backupDir);
    const filename = `${database.name}_planted_20250101_000000.sql.gz`;
    const spoolPath = path.join(spoolDir, `${database.name}.${filename}`);
    const genuine = Buffer.from('genuine dump bytes');
    writeFileSync(spoolPath, Buffer.from('swapped dump bytes'), { mode: 0o600 });
    const record = {
      ...(await listBackups(createLocalStorage({ dir: backupDir }), { target: database.name }))[0],
      filename,
      key: `${database.name}/${filename}`,
      bytes: genuine.length,
      sha256: createHash('sha256').update(genuine).digest('hex'),
      location: '',
    };
    writeFileSync(`${spoolPath}.manifest.json`, JSON.stringify(record), { mode: 0o600 });

    const job = await backups.queue.add(JOB_NAMES.backupCreate, {
      target: database.name,
      upload: { file: filename, host: hostname(), attempts: 1 },
    });
    const done = await waitForJobEnd(backups.queue, job, 60_000);
    expect(await done.getState()).toBe('failed');
    expect(done.failedReason).toContain(
      `SPOOL_RECORD_INVALID: the spooled dump ${filename} no longer matches the record made after its integrity check`,
    );
    expect(done.failedReason).not.toContain(record.sha256);
    expect(snapshotTree(backupDir)).toEqual(storedBefore);
    expect(readFileSync(spoolPath, 'utf8')).toBe('swapped dump bytes');
    await rm(spoolPath);
    await rm(`${spoolPath}.manifest.json`);
  });
});

describe('restore jobs planted in Redis', () => {
  it('refuse paths, unknown fields and system databases before touching anything', async () => {
    const planted: [Record<string, unknown>, RegExp][] = [
      [{ target: database.name, file: '../../etc/passwd' }, /file: must be a plain file name/],
      [{ target: database.name, file: '/etc/passwd' }, /file: must be a plain file name/],
      [{ target: database.name, file: 'latest', spoolPath: '/etc/passwd' }, /Unrecognized key/],
      [
        { target: database.name, file: 'latest', database: 'postgres', overwrite: true },
        /refusing to restore into the system database "postgres"/,
      ],
    ];
    for (const [data, reason] of planted) {
      const job = await restores.queue.add(JOB_NAMES.restoreRun, data);
      const done = await waitForJobEnd(restores.queue, job, 60_000);
      expect(await done.getState()).toBe('failed');
      expect(done.failedReason).toMatch(reason);
    }
    const restoreTest = await restores.queue.add(JOB_NAMES.restoreVerify, {
      target: database.name,
      file: '/etc/passwd',
    });
    const restoreTestEnd = await waitForJobEnd(restores.queue, restoreTest, 60_000);
    expect(restoreTestEnd.failedReason).toMatch(/invalid restore test job data: .*Unrecognized key/);
  });
});
