import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runRestoreTest } from '@warden/backup';
import { loadConfig } from '@warden/config';
import { createLogger } from '@warden/logging';
import { databaseNameSlug } from '@warden/names';
import { backupJobSchema, JOB_NAMES, QUEUE_NAMES, restoreVerifyJobSchema } from '@warden/queue';
import { createLocalStorage } from '@warden/storage';
import { type Job, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackupEvents } from '../apps/worker/src/backup-events.js';
import { createBackupProcessor } from '../apps/worker/src/processors/backups.processor.js';
import { createTargetLock } from '../apps/worker/src/target-lock.js';
import { createDatabase, dropDatabase, pgUrl, withClient } from './helpers/pg-fixtures.js';
import { runWardenCli, testEnv } from './helpers/processes.js';
import { createTestQueue } from './helpers/queues.js';
import { uniquePrefix } from './helpers/test-run.js';

/*
 * Databases named as PostgreSQL allows but a URL or file name does not like, each through
 * backup:create, the scheduled backup job, backup:restore --latest and the restore test.
 */
const hex = randomBytes(3).toString('hex');
// Under the run's prefix: the run's teardown deletes the queues this file leaves.
const prefix = uniquePrefix('names');
const testQueue = createTestQueue({ prefix });
const logger = createLogger({ service: 'database-names-test', level: 'silent' });
const CASES = [
  { label: 'space and uppercase', database: `My Shop DB ${hex}`, url: (name: string) => pgUrl(name) },
  {
    label: '"$" literal in the URL',
    database: `pay$roll_${hex}`,
    url: (name: string) => pgUrl(name).replace('%24', '$'),
  },
  { label: '"$" as %24 in the URL', database: `pay$roll_${hex}_b`, url: (name: string) => pgUrl(name) },
  { label: 'non-ASCII letters', database: `données_${hex}`, url: (name: string) => pgUrl(name) },
];
const restored = new Set<string>();
let work: string;
let worker: Worker;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'warden-names-'));
  worker = new Worker(QUEUE_NAMES.backups, null, { connection: testQueue.redis, prefix, autorun: false });
  worker.on('error', () => undefined);
  for (const { database } of CASES) {
    await createDatabase(database);
    await withClient(database, (client) =>
      client.query(`CREATE TABLE items (id serial PRIMARY KEY, v text);
        INSERT INTO items (v) SELECT 'item ' || i FROM generate_series(1, 200) i`),
    );
  }
});

afterAll(async () => {
  await worker?.close();
  await testQueue.close();
  for (const { database } of CASES) await dropDatabase(database);
  for (const name of restored) await dropDatabase(name);
  if (work) await rm(work, { recursive: true, force: true });
});

describe.each(CASES)('a database named with $label', ({ database, url }) => {
  const dir = () => path.join(work, databaseNameSlug(database));
  const env = () => ({
    DATABASE_URL: url(database),
    BACKUP_ENVIRONMENT: 'test',
    BACKUP_DIR: path.join(dir(), 'store'),
    BACKUP_SPOOL_DIR: path.join(dir(), 'spool'),
    BACKUP_MIN_FREE_MB: '0',
    REDIS_URL: 'redis://127.0.0.1:6379',
    QUEUE_PREFIX: prefix,
  });

  it('loads as a target whose jobs the queue accepts, named after the database', () => {
    const [target] = loadConfig(env()).targets;
    expect(target?.database).toBe(database);
    expect(target?.name).toBe(databaseNameSlug(database));
    expect(backupJobSchema.safeParse({ target: target?.name, trigger: 'schedule' }).success).toBe(true);
    expect(restoreVerifyJobSchema.safeParse({ target: target?.name }).success).toBe(true);
  });

  it('goes through backup:create, the scheduled job, backup:restore --latest and the restore test', async () => {
    const created = await runWardenCli('apps/worker/src/cli/backup-create.ts', [], testEnv(env()));
    expect(created.code, created.stderr).toBe(0);
    const result = JSON.parse(created.stdout.trim().split('\n').at(-1) ?? '{}');
    expect(result).toMatchObject({ status: 'success', database });
    expect(result.filename).toMatch(
      new RegExp(`^${databaseNameSlug(database)}_test_\\d{8}_\\d{6}\\.sql\\.gz$`),
    );

    // The scheduled backup: the job a scheduler adds, run by the worker's processor.
    const config = loadConfig(env());
    const target = config.targets[0];
    if (!target) throw new Error('no target');
    const storage = createLocalStorage({ dir: path.join(dir(), 'store') });
    try {
      const processor = createBackupProcessor({
        targets: [target],
        settings: {
          spoolDir: path.join(dir(), 'spool'),
          minFreeBytes: 0,
          compression: 'gzip',
          gzipLevel: 1,
          gzipEngine: 'zlib',
          rowCounts: true,
          timeoutMs: 60_000,
          pgDumpPath: 'pg_dump',
          uploadRetryAttempts: 0,
          uploadRetryDelayMs: 0,
        },
        storage,
        logger,
        events: createBackupEvents({ logger }),
        lockFor: (name) => createTargetLock({ redis: testQueue.redis, key: `${prefix}:lock:backup:${name}` }),
      });
      await testQueue.queue.add(JOB_NAMES.backupCreate, { target: target.name, trigger: 'schedule' });
      const token = randomBytes(8).toString('hex');
      const job = (await worker.getNextJob(token)) as Job;
      const scheduled = (await processor(job, token)) as { filename: string; database?: string };
      expect(scheduled.filename.startsWith(`${databaseNameSlug(database)}_test_`)).toBe(true);
      await job.moveToCompleted(scheduled, token, false);

      const restore = await runWardenCli(
        'apps/worker/src/cli/backup-restore.ts',
        ['--latest'],
        testEnv(env()),
      );
      expect(restore.code, restore.stderr).toBe(0);
      const restoredResult = JSON.parse(restore.stdout.trim().split('\n').at(-1) ?? '{}');
      restored.add(restoredResult.database);
      expect(restoredResult).toMatchObject({
        status: 'success',
        check: { rowCounts: 'matched', content: 'matched' },
      });
      expect(restoredResult.database.startsWith(database.slice(0, 10))).toBe(true);

      const outcome = await runRestoreTest(
        { storage, logger },
        { target, spoolDir: path.join(dir(), 'restore-test-spool') },
      );
      expect(outcome.record).toMatchObject({ status: 'passed' });
    } finally {
      await storage.close();
    }
  }, 180_000);
});
