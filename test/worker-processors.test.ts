import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runBackup } from '@warden/backup';
import { listBackups } from '@warden/catalog';
import { databaseServerOf } from '@warden/config';
import { StorageError } from '@warden/errors';
import { createLogger } from '@warden/logging';
import { JOB_NAMES, QUEUE_NAMES } from '@warden/queue';
import { type BackupStorage, createLocalStorage } from '@warden/storage';
import { DelayedError, type Job, UnrecoverableError, WaitingError, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackupEvents } from '../apps/worker/src/backup-events.js';
import { createServerSlots, type ServerSlots } from '../apps/worker/src/backup-pacing.js';
import {
  type BackupPipelineSettings,
  createBackupProcessor,
} from '../apps/worker/src/processors/backups.processor.js';
import { PROGRESS_INTERVAL_MS } from '../apps/worker/src/processors/job-steps.js';
import {
  createRestoreEvents,
  createRestoreProcessor,
} from '../apps/worker/src/processors/restores.processor.js';
import { createTargetLock } from '../apps/worker/src/target-lock.js';
import {
  createTestDatabase,
  dropDatabase,
  type TestDatabase,
  targetSpecFor,
  withClient,
} from './helpers/pg-fixtures.js';
import { createTestQueue } from './helpers/queues.js';
import { uniquePrefix } from './helpers/test-run.js';

/*
 * The backup and restore processors' decisions, in this process against the real Redis, Postgres and pg_dump:
 * jobs are taken by hand (`getNextJob`) so each test sees exactly what the processor did to its job.
 */
// Under the run's prefix: the run's teardown deletes the queues and locks this file leaves.
const prefix = uniquePrefix('proc');
const testQueue = createTestQueue({ prefix });
const { queue, redis } = testQueue;
const restoreQueue = createTestQueue({ prefix, name: QUEUE_NAMES.restores });
const logger = createLogger({ service: 'processor-test', level: 'silent' });

let work: string;
let database: TestDatabase;
let worker: Worker;
let restoreWorker: Worker;
/** Holds one backup of the test database, to restore from. */
let restoreStore: BackupStorage;
const victims: string[] = [];

interface UploadFailure {
  error?: Error;
  /** Uploads of a dump file tried so far. */
  puts?: number;
  /** Runs before each upload of a dump file. */
  beforePut?: () => Promise<void>;
}

/** Local storage whose uploads fail with `failure.error` while it is set, counting the attempts. */
function failingStorage(inner: BackupStorage, failure: UploadFailure): BackupStorage {
  const put = async <T>(upload: () => Promise<T>): Promise<T> => {
    failure.puts = (failure.puts ?? 0) + 1;
    await failure.beforePut?.();
    if (failure.error) throw failure.error;
    return upload();
  };
  return {
    ...inner,
    location: inner.location,
    prefersStreamedUpload: false,
    describe: (key) => inner.describe(key),
    putFile: (key, file, options) => put(() => inner.putFile(key, file, options)),
    putStream: (key, body, options) => put(() => inner.putStream(key, body, options)),
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
function processorWith(storage: BackupStorage, spoolDir: string, pgDumpPath = 'pg_dump') {
  return createBackupProcessor({
    targets: [targetSpecFor(database)],
    settings: { ...pipelineSettings(spoolDir), pgDumpPath },
    storage,
    logger,
    events: createBackupEvents({ logger }),
    lockFor: lockForScope(path.basename(spoolDir)),
  });
}

function pipelineSettings(spoolDir: string, uploadRetryDelayMs = 60_000): BackupPipelineSettings {
  return {
    spoolDir,
    minFreeBytes: 0,
    compression: 'gzip',
    gzipLevel: 1,
    gzipEngine: 'zlib',
    rowCounts: true,
    timeoutMs: 60_000,
    pgDumpPath: 'pg_dump',
    uploadRetryAttempts: 2,
    uploadRetryDelayMs,
  };
}

/** The target locks of one test: the key the worker's runtime gives both processors. */
function lockForScope(scope: string) {
  return (target: string) => createTargetLock({ redis, key: lockKeyOf(scope, target) });
}

function lockKeyOf(scope: string, target: string): string {
  return `${prefix}:lock:${scope}:backup:${target}`;
}

/** Waits until a released lock's key is gone (a release may keep it to the end of the second). */
async function lockGone(key: string): Promise<void> {
  for (let tries = 0; (await redis.exists(key)) === 1; tries += 1) {
    if (tries > 100) throw new Error(`the target lock ${key} was never released`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Adds a job and takes it as a worker would; returns it with its lock token. */
async function takeJob(data: Record<string, unknown>): Promise<{ job: Job; token: string }> {
  await queue.add(JOB_NAMES.backupCreate, data, { attempts: 3 });
  return takeNext(worker);
}

/** The next job of `from`'s queue, taken as a worker would, with its lock token. */
async function takeNext(from: Worker): Promise<{ job: Job; token: string }> {
  const token = randomBytes(8).toString('hex');
  const job = (await from.getNextJob(token)) as Job | undefined;
  if (!job) throw new Error(`no job to take from ${from.name}`);
  return { job, token };
}

/** A PG_DUMP_PATH that counts its dumps (the `--version` check aside). */
function countingPgDump(dir: string): { path: string; runs(): number } {
  mkdirSync(dir, { recursive: true });
  const runs = path.join(dir, 'runs');
  const wrapper = path.join(dir, 'pg_dump_counting');
  writeFileSync(
    wrapper,
    `#!/bin/sh\nif [ "$1" != "--version" ]; then echo run >> "${runs}"; fi\nexec pg_dump "$@"\n`,
    { mode: 0o755 },
  );
  return {
    path: wrapper,
    runs: () => (existsSync(runs) ? readFileSync(runs, 'utf8').trim().split('\n').length : 0),
  };
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
  restoreWorker = new Worker(QUEUE_NAMES.restores, null, { connection: redis, prefix, autorun: false });
  restoreWorker.on('error', () => undefined);
  restoreStore = createLocalStorage({ dir: path.join(work, 'store-restore') });
  await runBackup(
    { storage: restoreStore, logger },
    { ...pipelineSettings(path.join(work, 'spool-restore-source')), target: targetSpecFor(database) },
  );
});

afterAll(async () => {
  await worker?.close();
  await restoreWorker?.close();
  await testQueue.close();
  await restoreQueue.close();
  for (const victim of victims) await dropDatabase(victim);
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
    await lockGone(lockKeyOf(path.basename(spoolDir), database.name));
    await delayed?.promote();
    const { job: retry, token: retryToken } = await takeNext(worker);
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
  it('a re-run of a job whose backup is already stored (its completion was lost) returns that backup: no second dump', async () => {
    const storage = createLocalStorage({ dir: path.join(work, 'store-rerun-stored') });
    const spoolDir = path.join(work, 'spool-rerun-stored');
    const pgDump = countingPgDump(path.join(work, 'pg-rerun-stored'));
    const process = processorWith(storage, spoolDir, pgDump.path);
    const { job, token } = await takeJob({ target: database.name, trigger: 'api' });
    const first = (await process(job, token)) as { filename: string };
    await lockGone(lockKeyOf(path.basename(spoolDir), database.name));
    // The stalled-job recovery runs the same job again.
    const again = (await process(job, token)) as { filename: string };
    expect(again.filename).toBe(first.filename);
    expect(pgDump.runs()).toBe(1);
    expect((await listBackups(storage, { target: database.name })).map((m) => m.filename)).toEqual([
      first.filename,
    ]);
    // Only the job's record is left; the worker drops it once BullMQ has the job completed.
    expect(await readdir(spoolDir)).toEqual([`${database.name}.job-${job.id}.job.json`]);
  });

  it('a re-run of a job whose integrity-checked dump is spooled uploads that dump, found by job id and target, without dumping again', async () => {
    const failure: UploadFailure = {
      error: new StorageError('STORAGE_UNAVAILABLE', 'access denied by bucket policy', { permanent: true }),
    };
    const inner = createLocalStorage({ dir: path.join(work, 'store-rerun-spooled') });
    const spoolDir = path.join(work, 'spool-rerun-spooled');
    const pgDump = countingPgDump(path.join(work, 'pg-rerun-spooled'));
    const process = processorWith(failingStorage(inner, failure), spoolDir, pgDump.path);
    const { job, token } = await takeJob({ target: database.name, trigger: 'api' });
    expect(await outcome(process(job, token))).toBeInstanceOf(UnrecoverableError);
    const spooledName = (await queue.getJob(job.id ?? ''))?.data.upload.file as string;
    // As if the job's data update had been lost in a Redis failover: only the spool knows.
    await job.updateData({ target: database.name, trigger: 'api' });
    failure.error = undefined;
    await lockGone(lockKeyOf(path.basename(spoolDir), database.name));
    const result = (await process(job, token)) as { filename: string };
    expect(result.filename).toBe(spooledName);
    expect(pgDump.runs()).toBe(1);
    expect(await inner.head(`${database.name}/${spooledName}`)).toBeDefined();
    expect(await readdir(spoolDir)).toEqual([`${database.name}.job-${job.id}.job.json`]);
  });

  it("a manifest of the same name that another job made is not taken for this job's backup", async () => {
    const storage = createLocalStorage({ dir: path.join(work, 'store-other-job') });
    const spoolDir = path.join(work, 'spool-other-job');
    const process = processorWith(storage, spoolDir);
    const first = await takeJob({ target: database.name, trigger: 'api' });
    const stored = (await process(first.job, first.token)) as { filename: string };
    await lockGone(lockKeyOf(path.basename(spoolDir), database.name));
    // A job whose data names someone else's backup gets no success from it.
    const other = await takeJob({
      target: database.name,
      trigger: 'api',
      upload: { file: stored.filename, host: 'elsewhere', attempts: 1 },
    });
    const error = await outcome(process(other.job, other.token));
    expect(error).toBeInstanceOf(UnrecoverableError);
    expect((error as Error).message).toContain('spooled on host elsewhere');
  });
});

/**
 * A restore processor sharing the backup processor's target locks of `scope`. The safety backup's
 * upload retry delay is far longer than any test: a processor that slept through it would time out.
 */
function restoreProcessorWith(
  storage: BackupStorage,
  scope: string,
  extra: { serverSlots?: ServerSlots; pgDumpPath?: string } = {},
) {
  return createRestoreProcessor({
    targets: [targetSpecFor(database)],
    settings: {
      spoolDir: path.join(work, `download-${scope}`),
      minFreeBytes: 0,
      psqlPath: 'psql',
      timeoutMs: 60_000,
      safetyBackup: {
        ...pipelineSettings(path.join(work, `spool-${scope}`), 600_000),
        ...(extra.pgDumpPath ? { pgDumpPath: extra.pgDumpPath } : {}),
      },
    },
    storage,
    logger,
    events: createRestoreEvents({ logger }),
    lockFor: lockForScope(scope),
    ...(extra.serverSlots ? { serverSlots: extra.serverSlots } : {}),
  });
}

async function takeRestoreJob(
  data: Record<string, unknown>,
  name: string = JOB_NAMES.restoreRun,
): Promise<{ job: Job; token: string }> {
  await restoreQueue.queue.add(name, data, { attempts: 1 });
  return takeNext(restoreWorker);
}

/** An existing database a restore may replace, holding one table the backup does not have. */
async function victimDatabase(): Promise<string> {
  const victim = (await createTestDatabase({ prefix: 'warden_proc_victim', seed: false })).name;
  victims.push(victim);
  await withClient(victim, (client) =>
    client.query('CREATE TABLE before_restore (v int); INSERT INTO before_restore VALUES (1)'),
  );
  return victim;
}

async function untouched(victim: string): Promise<boolean> {
  const { rows } = await withClient(victim, (client) =>
    client.query<{ table: string | null }>(`SELECT to_regclass('public.before_restore')::text AS table`),
  );
  return rows[0]?.table === 'before_restore';
}

async function safetyCopiesOf(victim: string) {
  const backups = await listBackups(restoreStore, { target: database.name });
  return backups.filter((backup) => backup.database === victim);
}

describe('restore processor decisions (in-process, real Redis)', () => {
  it('waits in delayed while a backup holds the target lock, and takes the safety backup under that lock once free', async () => {
    const scope = 'restore-locked';
    const lockKey = lockKeyOf(scope, database.name);
    const victim = await victimDatabase();
    const failure: UploadFailure = {};
    const process = restoreProcessorWith(failingStorage(restoreStore, failure), scope);
    const backup = lockForScope(scope)(database.name);
    expect(await backup.acquire()).toBe(true);
    const backupOwner = await redis.get(lockKey);

    const { job, token } = await takeRestoreJob({
      target: database.name,
      file: 'latest',
      database: victim,
      overwrite: true,
    });
    expect(await outcome(process(job, token))).toBeInstanceOf(DelayedError);
    expect(await job.getState()).toBe('delayed');
    // Nothing ran beside the backup: no safety dump uploaded, the database as it was, the lock the backup's.
    expect(failure.puts ?? 0).toBe(0);
    expect(await untouched(victim)).toBe(true);
    expect(await safetyCopiesOf(victim)).toEqual([]);
    expect(await redis.get(lockKey)).toBe(backupOwner);

    await backup.release();
    const lockOwnersAtUpload: (string | null)[] = [];
    const backupsMeanwhile: unknown[] = [];
    failure.beforePut = async () => {
      lockOwnersAtUpload.push(await redis.get(lockKey));
      // A backup of the target asked for now waits for the restore (same lock key).
      const meanwhile = await takeJob({ target: database.name, trigger: 'api' });
      const backupProcess = processorWith(restoreStore, path.join(work, scope));
      backupsMeanwhile.push(await outcome(backupProcess(meanwhile.job, meanwhile.token)));
      backupsMeanwhile.push(await meanwhile.job.getState());
      await (await queue.getJob(meanwhile.job.id ?? ''))?.remove();
    };
    await (await restoreQueue.queue.getJob(job.id ?? ''))?.promote();
    const { job: retry, token: retryToken } = await takeNext(restoreWorker);
    expect(retry.id).toBe(job.id);
    const result = (await process(retry, retryToken)) as { action: string; safety_backup?: string };
    expect(result).toMatchObject({ action: 'replace' });
    expect(await untouched(victim)).toBe(false);
    // One upload, made while the restore held the target lock (a key with an owner other than the backup).
    expect(failure.puts).toBe(1);
    expect(lockOwnersAtUpload).toHaveLength(1);
    expect(lockOwnersAtUpload[0]).toBeTruthy();
    expect(lockOwnersAtUpload[0]).not.toBe(backupOwner);
    expect(backupsMeanwhile).toEqual([expect.any(DelayedError), 'delayed']);
    const [safety] = await safetyCopiesOf(victim);
    expect(safety).toMatchObject({ filename: result.safety_backup, trigger: 'pre-restore' });
    await lockGone(lockKey);
  });

  it('waits in delayed while every dump slot of the database server is held, writing nothing, and dumps under a slot once one is free', async () => {
    const scope = 'restore-slots';
    const victim = await victimDatabase();
    const failure: UploadFailure = {};
    const slotOptions = { keyPrefix: `${prefix}:server-slots:${scope}`, limit: 1, ttlMs: 60_000 };
    const slotKey = `${slotOptions.keyPrefix}:${databaseServerOf(targetSpecFor(database).databaseUrl)}`;
    // BACKUP_SERVER_CONCURRENCY=1, the one slot held by another worker's dump.
    const other = await createServerSlots({ redis, ...slotOptions }).acquire(
      databaseServerOf(targetSpecFor(database).databaseUrl),
    );
    expect(other).toBeDefined();
    const slotEvents: string[] = [];
    const slots = createServerSlots({ redis, ...slotOptions });
    const serverSlots: ServerSlots = {
      async acquire(server) {
        const slot = await slots.acquire(server);
        slotEvents.push(slot ? 'acquired' : 'busy');
        return (
          slot && {
            async release() {
              slotEvents.push(`released before upload: ${(failure.puts ?? 0) === 0}`);
              await slot.release();
            },
          }
        );
      },
    };
    const process = restoreProcessorWith(failingStorage(restoreStore, failure), scope, { serverSlots });
    const { job, token } = await takeRestoreJob({
      target: database.name,
      file: 'latest',
      database: victim,
      overwrite: true,
    });
    expect(await outcome(process(job, token))).toBeInstanceOf(DelayedError);
    expect(await job.getState()).toBe('delayed');
    expect(slotEvents).toEqual(['busy']);
    // Nothing written: no safety dump spooled or uploaded, the database as it was, the lock given back.
    expect(failure.puts ?? 0).toBe(0);
    expect(await readdir(path.join(work, `spool-${scope}`)).catch(() => [])).toEqual([]);
    expect(await untouched(victim)).toBe(true);
    expect(await safetyCopiesOf(victim)).toEqual([]);
    expect(await redis.zcard(slotKey)).toBe(1);
    await lockGone(lockKeyOf(scope, database.name));

    await other?.release();
    await (await restoreQueue.queue.getJob(job.id ?? ''))?.promote();
    const { job: retry, token: retryToken } = await takeNext(restoreWorker);
    expect(retry.id).toBe(job.id);
    const result = (await process(retry, retryToken)) as { action: string; safety_backup?: string };
    expect(result).toMatchObject({ action: 'replace' });
    expect(await untouched(victim)).toBe(false);
    // The slot was held for the dump and given back before the upload, like a backup's.
    expect(slotEvents).toEqual(['busy', 'acquired', 'released before upload: true']);
    expect(failure.puts).toBe(1);
    expect(await redis.zcard(slotKey)).toBe(0);
    const [safety] = await safetyCopiesOf(victim);
    expect(safety).toMatchObject({ filename: result.safety_backup, trigger: 'pre-restore' });
    await lockGone(lockKeyOf(scope, database.name));
  });

  it("reports the safety backup's progress in the restore job's progress, phase safety-backup, within the restore's range", async () => {
    const scope = 'restore-progress';
    const victim = await victimDatabase();
    // pg_dump that ends later than the progress throttle's interval after it started, so that the
    // dump's last progress is written, not dropped as too close to the phase's first update.
    const dir = path.join(work, `pg-dump-${scope}`);
    mkdirSync(dir, { recursive: true });
    const pgDumpPath = path.join(dir, 'pg_dump_slow_exit');
    writeFileSync(
      pgDumpPath,
      `#!/bin/sh\nif [ "$1" = "--version" ]; then exec pg_dump "$@"; fi\npg_dump "$@"\nrc=$?\nsleep ${(PROGRESS_INTERVAL_MS + 200) / 1000}\nexit $rc\n`,
      { mode: 0o755 },
    );
    const process = restoreProcessorWith(restoreStore, scope, { pgDumpPath });
    const { job, token } = await takeRestoreJob({
      target: database.name,
      file: 'latest',
      database: victim,
      overwrite: true,
    });
    const written: { phase: string; percent: number }[] = [];
    const write = job.updateProgress.bind(job);
    job.updateProgress = (progress) => {
      written.push(progress as { phase: string; percent: number });
      return write(progress);
    };
    expect(await process(job, token)).toMatchObject({ action: 'replace' });
    const safety = written.filter((progress) => progress.phase === 'safety-backup');
    expect(safety.length).toBeGreaterThanOrEqual(2);
    expect(safety[0]?.percent).toBe(30);
    // It moves within its sub-range, and the restore's percent never goes back.
    expect(Math.max(...safety.map((progress) => progress.percent))).toBeGreaterThan(30);
    for (const progress of safety) expect(progress.percent).toBeLessThanOrEqual(45);
    const percents = written.map((progress) => progress.percent);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    expect(written.at(-1)).toMatchObject({ phase: 'done', percent: 100 });
    await lockGone(lockKeyOf(scope, database.name));
  });

  it('fails at once on a transient upload error of the safety backup: one upload attempt, no sleep, nothing replaced', async () => {
    const scope = 'restore-upload';
    const victim = await victimDatabase();
    const failure: UploadFailure = { error: new StorageError('STORAGE_UNAVAILABLE', 'connection reset') };
    const process = restoreProcessorWith(failingStorage(restoreStore, failure), scope);
    const { job, token } = await takeRestoreJob({
      target: database.name,
      file: 'latest',
      database: victim,
      overwrite: true,
    });
    const error = await outcome(process(job, token));
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(UnrecoverableError);
    expect(error).not.toBeInstanceOf(DelayedError);
    expect((error as Error).message).toMatch(/^RESTORE_SAFETY_BACKUP_FAILED: .*connection reset/);
    expect(failure.puts).toBe(1);
    expect(await job.getState()).toBe('active');
    expect(await untouched(victim)).toBe(true);
    expect(await safetyCopiesOf(victim)).toEqual([]);
    // The integrity-checked safety dump nobody will upload is not left in the spool.
    expect(await readdir(path.join(work, `spool-${scope}`)).catch(() => [])).toEqual([]);
    await lockGone(lockKeyOf(scope, database.name));
  });

  it('hands the job back to wait when the worker shuts down mid-restore', async () => {
    const scope = 'restore-handback';
    const victim = await victimDatabase();
    const process = restoreProcessorWith(restoreStore, scope);
    const { job, token } = await takeRestoreJob({
      target: database.name,
      file: 'latest',
      database: victim,
      overwrite: true,
    });
    const shutdown = new AbortController();
    shutdown.abort(new Error('SIGTERM'));
    expect(await outcome(process(job, token, shutdown.signal))).toBeInstanceOf(WaitingError);
    expect(await job.getState()).toBe('waiting');
    expect(await untouched(victim)).toBe(true);
    expect(await redis.exists(lockKeyOf(scope, database.name))).toBe(0);
    await (await restoreQueue.queue.getJob(job.id ?? ''))?.remove();
  });

  it('ends a restore job as unrecoverable on bad data, an unknown target or job, or a refused database', async () => {
    const process = restoreProcessorWith(restoreStore, 'restore-bad');
    const bad = await takeRestoreJob({ target: database.name, file: 'latest', overwrite: 'yes' });
    const badError = await outcome(process(bad.job, bad.token));
    expect(badError).toBeInstanceOf(UnrecoverableError);
    expect((badError as Error).message).toContain('invalid restore job data');
    const unknown = await takeRestoreJob({ target: 'no-such-target', file: 'latest' });
    const unknownError = await outcome(process(unknown.job, unknown.token));
    expect(unknownError).toBeInstanceOf(UnrecoverableError);
    expect((unknownError as Error).message).toContain('unknown target "no-such-target"');
    const job = await takeRestoreJob({ target: database.name }, 'restore.unknown');
    const jobError = await outcome(process(job.job, job.token));
    expect(jobError).toBeInstanceOf(UnrecoverableError);
    expect((jobError as Error).message).toContain('unknown job "restore.unknown"');
    const victim = await victimDatabase();
    const refused = await takeRestoreJob({ target: database.name, file: 'latest', database: victim });
    const refusedError = await outcome(process(refused.job, refused.token));
    expect(refusedError).toBeInstanceOf(UnrecoverableError);
    expect((refusedError as Error).message).toMatch(/^RESTORE_DATABASE_EXISTS: /);
    expect(await untouched(victim)).toBe(true);
  });
});
