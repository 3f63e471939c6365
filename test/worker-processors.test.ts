import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { StorageError } from '@warden/errors';
import { createLogger } from '@warden/logging';
import { JOB_NAMES, QUEUE_NAMES } from '@warden/queue';
import { type BackupStorage, createLocalStorage } from '@warden/storage';
import { DelayedError, type Job, UnrecoverableError, WaitingError, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackupEvents } from '../apps/worker/src/backup-events.js';
import { createBackupProcessor } from '../apps/worker/src/processors/backups.processor.js';
import { createTargetLock } from '../apps/worker/src/target-lock.js';
import { createTestDatabase, type TestDatabase, targetSpecFor } from './helpers/pg-fixtures.js';
import { createTestQueue } from './helpers/queues.js';

/*
 * The backup processor's decisions, in this process against the real Redis, Postgres and pg_dump:
 * jobs are taken by hand (`getNextJob`) so each test sees exactly what the processor did to its job.
 */
const prefix = `warden-proc-${randomBytes(4).toString('hex')}`;
const testQueue = createTestQueue({ prefix });
const { queue, redis } = testQueue;
const logger = createLogger({ service: 'processor-test', level: 'silent' });

let work: string;
let database: TestDatabase;
let worker: Worker;

/** Local storage whose uploads fail with `failure` while it is set. */
function failingStorage(inner: BackupStorage, failure: { error?: Error }): BackupStorage {
  return {
    ...inner,
    location: inner.location,
    prefersStreamedUpload: false,
    describe: (key) => inner.describe(key),
    putFile: (key, file, options) =>
      failure.error ? Promise.reject(failure.error) : inner.putFile(key, file, options),
    putStream: (key, body, options) => inner.putStream(key, body, options),
    putBytes: (key, body, options) => inner.putBytes(key, body, options),
    head: (key) => inner.head(key),
    list: (keyPrefix) => inner.list(keyPrefix),
    read: (key) => inner.read(key),
    readBytes: (key) => inner.readBytes(key),
    delete: (key) => inner.delete(key),
    close: () => inner.close(),
  };
}

/**
 * A processor with its own target lock: a finished backup keeps the lock until its file name's
 * second has passed, which would delay the next test's job of the same target.
 */
function processorWith(storage: BackupStorage, spoolDir: string) {
  const lockScope = path.basename(spoolDir);
  return createBackupProcessor({
    targets: [targetSpecFor(database)],
    settings: {
      spoolDir,
      minFreeBytes: 0,
      compression: 'gzip',
      gzipLevel: 1,
      gzipEngine: 'zlib',
      rowCounts: true,
      timeoutMs: 60_000,
      pgDumpPath: 'pg_dump',
      uploadRetryAttempts: 2,
      uploadRetryDelayMs: 60_000,
    },
    storage,
    logger,
    events: createBackupEvents({ logger }),
    lockFor: (target) => createTargetLock({ redis, key: `${prefix}:lock:${lockScope}:backup:${target}` }),
  });
}

/** Adds a job and takes it as a worker would; returns it with its lock token. */
async function takeJob(data: Record<string, unknown>): Promise<{ job: Job; token: string }> {
  await queue.add(JOB_NAMES.backupCreate, data, { attempts: 3 });
  const token = randomBytes(8).toString('hex');
  const job = (await worker.getNextJob(token)) as Job | undefined;
  if (!job) throw new Error('no job to take');
  return { job, token };
}

async function outcome(run: Promise<unknown>): Promise<unknown> {
  return run.then(
    (value) => ({ value }),
    (error: unknown) => error,
  );
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'warden-processors-'));
  database = await createTestDatabase({ prefix: 'warden_proc', seed: { orders: 300 } });
  worker = new Worker(QUEUE_NAMES.backups, null, { connection: redis, prefix, autorun: false });
  worker.on('error', () => undefined);
});

afterAll(async () => {
  await worker?.close();
  await testQueue.close();
  await database?.drop();
  await rm(work, { recursive: true, force: true });
});

describe('backup processor decisions (in-process, real Redis)', () => {
  it('gives up at once on a permanent upload error: no delayed retry', async () => {
    const failure = {
      error: new StorageError('STORAGE_UNAVAILABLE', 'access denied by bucket policy', { permanent: true }),
    };
    const storage = failingStorage(createLocalStorage({ dir: path.join(work, 'store-permanent') }), failure);
    const { job, token } = await takeJob({ target: database.name, trigger: 'api' });
    const error = await outcome(processorWith(storage, path.join(work, 'spool-permanent'))(job, token));
    expect(error).toBeInstanceOf(UnrecoverableError);
    expect((error as Error).message).toMatch(/^UPLOAD_FAILED: .*access denied by bucket policy/);
    expect(await job.getState()).toBe('active');
    expect((await queue.getJob(job.id ?? ''))?.data.upload).toMatchObject({ attempts: 0 });
  });

  it('moves the job to delayed after a transient upload error and uploads on the retry without dumping again', async () => {
    const failure: { error?: Error } = { error: new StorageError('STORAGE_UNAVAILABLE', 'connection reset') };
    const inner = createLocalStorage({ dir: path.join(work, 'store-transient') });
    const storage = failingStorage(inner, failure);
    const spoolDir = path.join(work, 'spool-transient');
    const process = processorWith(storage, spoolDir);
    const { job, token } = await takeJob({ target: database.name, trigger: 'api' });
    expect(await outcome(process(job, token))).toBeInstanceOf(DelayedError);
    expect(await job.getState()).toBe('delayed');
    const delayed = await queue.getJob(job.id ?? '');
    expect(delayed?.data.upload).toMatchObject({ attempts: 1 });
    expect(String(delayed?.data.upload.lastError)).toContain('connection reset');

    // The retry: promote it, take it again, and let the store work. The first attempt holds the
    // target lock until its file name's second has passed; a real retry comes minutes later.
    failure.error = undefined;
    const lockKey = `${prefix}:lock:${path.basename(spoolDir)}:backup:${database.name}`;
    for (let tries = 0; (await redis.exists(lockKey)) === 1; tries += 1) {
      if (tries > 100) throw new Error('the target lock was never released');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await delayed?.promote();
    const retryToken = randomBytes(8).toString('hex');
    const retry = (await worker.getNextJob(retryToken)) as Job;
    expect(retry.id).toBe(job.id);
    const result = (await process(retry, retryToken)) as { filename: string };
    expect(result.filename).toBe(delayed?.data.upload.file);
    expect(await inner.head(`${database.name}/${result.filename}`)).toBeDefined();
  });

  it('hands the job back to wait when the worker shuts down mid-dump', async () => {
    const storage = createLocalStorage({ dir: path.join(work, 'store-handback') });
    const { job, token } = await takeJob({ target: database.name, trigger: 'api' });
    const shutdown = new AbortController();
    shutdown.abort(new Error('SIGTERM'));
    const error = await outcome(
      processorWith(storage, path.join(work, 'spool-handback'))(job, token, shutdown.signal),
    );
    expect(error).toBeInstanceOf(WaitingError);
    expect(await job.getState()).toBe('waiting');
    // Leave the queue empty for the next test.
    await (await queue.getJob(job.id ?? ''))?.remove();
  });

  it('ends a job with bad data or an unknown target as unrecoverable', async () => {
    const storage = createLocalStorage({ dir: path.join(work, 'store-bad') });
    const process = processorWith(storage, path.join(work, 'spool-bad'));
    const unknown = await takeJob({ target: 'no-such-target', trigger: 'api' });
    const unknownError = await outcome(process(unknown.job, unknown.token));
    expect(unknownError).toBeInstanceOf(UnrecoverableError);
    expect((unknownError as Error).message).toContain('unknown target "no-such-target"');
    const bad = await takeJob({
      target: database.name,
      trigger: 'api',
      upload: { spoolPath: '/etc/passwd' },
    });
    const badError = await outcome(process(bad.job, bad.token));
    expect(badError).toBeInstanceOf(UnrecoverableError);
    expect((badError as Error).message).toContain('invalid backup job data');
  });
});
