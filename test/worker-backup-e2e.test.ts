import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { listBackups } from '@warden/catalog';
import { JOB_NAMES } from '@warden/queue';
import { type BackupStorage, createLocalStorage, createS3Storage } from '@warden/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './faults/fault-helpers.js';
import { writePgDumpWrapper } from './helpers/pg-dump-wrapper.js';
import {
  createDatabase,
  createTestDatabase,
  dropDatabase,
  manifestRowCounts,
  restorePlainDump,
  type TestDatabase,
  tableRowCounts,
} from './helpers/pg-fixtures.js';
import {
  startWardenProcess,
  testEnv,
  type WardenProcess,
  waitFor,
  waitForJobEnd,
} from './helpers/processes.js';
import { createTestQueue } from './helpers/queues.js';
import { type S3TestServer, s3rverEnv, s3rverStorageOptions, startS3Server } from './helpers/s3-server.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const BUCKET = 'warden-e2e';

let database: TestDatabase;
let workDir: string;
const queuePrefix = `warden-e2e-${randomBytes(4).toString('hex')}`;
const testQueue = createTestQueue({ prefix: queuePrefix });
const { queue } = testQueue;
const processes: WardenProcess[] = [];

function workerEnv(extra: Record<string, string | undefined>) {
  return testEnv({
    DATABASE_URL: database.url,
    BACKUP_ENVIRONMENT: 'e2e',
    REDIS_URL,
    QUEUE_PREFIX: queuePrefix,
    BACKUP_SPOOL_DIR: path.join(workDir, 'spool'),
    WORKER_METRICS_PORT: '0',
    LOG_LEVEL: 'info',
    ...extra,
  });
}

async function startWorker(extra: Record<string, string | undefined>): Promise<WardenProcess> {
  const worker = startWardenProcess('apps/worker/src/main.ts', workerEnv(extra));
  processes.push(worker);
  await worker.waitForLine(/"msg":"worker started"/, 60_000);
  return worker;
}

function s3Env(endpoint: string) {
  return s3rverEnv(endpoint, BUCKET);
}

function s3Storage(endpoint: string): BackupStorage {
  return createS3Storage(s3rverStorageOptions(endpoint, BUCKET));
}

/** Downloads the dump, checks gzip integrity and checksum, restores it and compares row counts. */
async function expectRestorable(storage: BackupStorage, filename: string, sha256: string) {
  const key = `${database.name}/${filename}`;
  const bytes = await storage.readBytes(key);
  expect(createHash('sha256').update(bytes).digest('hex')).toBe(sha256);
  const file = path.join(workDir, filename);
  writeFileSync(file, bytes);
  execFileSync('gzip', ['-t', file]);
  const restored = await createDatabase(`${database.name}_r${randomBytes(2).toString('hex')}`);
  try {
    await restorePlainDump(file, restored);
    expect(await tableRowCounts(restored)).toEqual(await tableRowCounts(database.name));
  } finally {
    await dropDatabase(restored);
  }
}

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'warden-e2e-'));
  database = await createTestDatabase({ prefix: 'warden_e2e', seed: { orders: 60_000 } });
  expect(database.seed?.totalRows).toBeGreaterThanOrEqual(100_000);
});

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop('SIGKILL')));
  await testQueue.close();
  await database?.drop();
  await rm(workDir, { recursive: true, force: true });
});

describe('backups through the queue and the real worker process', () => {
  it('stores a checked, restorable backup in s3rver', async () => {
    const s3 = await startS3Server({ buckets: [BUCKET] });
    const worker = await startWorker(s3Env(s3.endpoint));
    try {
      const job = await queue.add(JOB_NAMES.backupCreate, { target: database.name, trigger: 'api' });
      const done = await waitForJobEnd(queue, job, 90_000);
      expect(done.failedReason).toBeUndefined();
      const result = done.returnvalue as Record<string, unknown>;
      expect(result).toMatchObject({ status: 'success', target: database.name, environment: 'e2e' });
      expect(result.filename).toMatch(new RegExp(`^${database.name}_e2e_\\d{8}_\\d{6}\\.sql\\.gz$`));
      expect(result.location).toBe(`s3://${BUCKET}/${database.name}/${result.filename}`);
      const storage = s3Storage(s3.endpoint);
      const [manifest] = await listBackups(storage, { target: database.name });
      expect(manifest?.filename).toBe(result.filename);
      expect(manifestRowCounts(manifest ?? {})).toEqual(await tableRowCounts(database.name));
      await expectRestorable(storage, String(result.filename), String(result.sha256));
      expect(await readdir(path.join(workDir, 'spool'))).toEqual([]);
      const progress = worker.lines.filter((line) =>
        line.includes('backup stored, integrity and stored-object checks passed'),
      );
      expect(progress).toHaveLength(1);
      await storage.close();
    } finally {
      await worker.stop();
      await s3.stop();
    }
  });

  it('stores a checked, restorable backup in a local directory', async () => {
    const backupDir = path.join(workDir, 'local-backups');
    const worker = await startWorker({ BACKUP_DIR: backupDir });
    try {
      const job = await queue.add(JOB_NAMES.backupCreate, { target: database.name, trigger: 'api' });
      const done = await waitForJobEnd(queue, job, 90_000);
      expect(done.failedReason).toBeUndefined();
      const result = done.returnvalue as Record<string, unknown>;
      expect(result.location).toBe(path.join(backupDir, database.name, String(result.filename)));
      const storage = createLocalStorage({ dir: backupDir });
      await expectRestorable(storage, String(result.filename), String(result.sha256));
    } finally {
      expect(await worker.stop()).toBe(0);
    }
  });

  it('retries a failed upload as a BullMQ delay that survives a worker restart, without dumping again', async () => {
    // A free port for s3rver, kept down while the first uploads fail.
    const port = await freePort();
    const dumpCount = path.join(workDir, 'dump-count');
    const pgDumpWrapper = writePgDumpWrapper(workDir, 'pg_dump_counting', `echo run >> "${dumpCount}"`);
    const env = {
      ...s3Env(`http://127.0.0.1:${port}`),
      PG_DUMP_PATH: pgDumpWrapper,
      UPLOAD_RETRY_ATTEMPTS: '3',
      UPLOAD_RETRY_DELAY_MS: '4000',
    };
    let worker = await startWorker(env);
    let s3: S3TestServer | undefined;
    try {
      const job = await queue.add(JOB_NAMES.backupCreate, { target: database.name, trigger: 'api' });
      const attemptsOf = async () =>
        ((await queue.getJob(job.id ?? ''))?.data.upload?.attempts as number) ?? 0;
      // The attempt is recorded in the job's data just before the job moves to delayed.
      await waitFor(
        async () =>
          (await attemptsOf()) >= 1 && (await (await queue.getJob(job.id ?? ''))?.getState()) === 'delayed'
            ? true
            : undefined,
        60_000,
        'first failed upload, job delayed',
      );

      // The worker dies during the wait; a new one must pick the retry up.
      await worker.stop('SIGKILL');
      worker = await startWorker(env);
      await waitFor(
        async () => ((await attemptsOf()) >= 2 ? true : undefined),
        60_000,
        'second failed upload',
      );
      s3 = await startS3Server({ buckets: [BUCKET], port });

      const done = await waitForJobEnd(queue, job, 90_000);
      expect(done.failedReason).toBeUndefined();
      expect(done.returnvalue).toMatchObject({ status: 'success' });
      expect(readFileSync(dumpCount, 'utf8').trim().split('\n')).toHaveLength(1);
      const storage = s3Storage(s3.endpoint);
      expect(await listBackups(storage, { target: database.name })).toHaveLength(1);
      await storage.close();
    } finally {
      await worker.stop();
      await s3?.stop();
    }
  });

  it('fails the job after the last retry and keeps the integrity-checked file, its path in the reason', async () => {
    const port = await freePort();
    const spoolDir = path.join(workDir, 'spool-kept');
    const worker = await startWorker({
      ...s3Env(`http://127.0.0.1:${port}`),
      BACKUP_SPOOL_DIR: spoolDir,
      UPLOAD_RETRY_ATTEMPTS: '3',
      UPLOAD_RETRY_DELAY_MS: '500',
    });
    try {
      const job = await queue.add(JOB_NAMES.backupCreate, { target: database.name, trigger: 'api' });
      const done = await waitForJobEnd(queue, job, 90_000);
      expect(await done.getState()).toBe('failed');
      expect(done.failedReason).toMatch(/upload failed after 4 attempts/);
      const kept = (await readdir(spoolDir)).filter((name) => name.endsWith('.sql.gz'));
      expect(kept).toHaveLength(1);
      expect(done.failedReason).toContain(path.join(spoolDir, kept[0] ?? ''));
      expect(existsSync(path.join(spoolDir, kept[0] ?? ''))).toBe(true);
      execFileSync('gzip', ['-t', path.join(spoolDir, kept[0] ?? '')]);
    } finally {
      await worker.stop();
    }
  });

  it('fails clearly when pg_dump cannot reach the database, leaving nothing behind', async () => {
    const backupDir = path.join(workDir, 'pg-down-backups');
    const spoolDir = path.join(workDir, 'spool-pg-down');
    const worker = await startWorker({
      DATABASE_URL: 'postgres://postgres@127.0.0.1:1/warden_nowhere',
      BACKUP_DIR: backupDir,
      BACKUP_SPOOL_DIR: spoolDir,
    });
    try {
      const job = await queue.add(JOB_NAMES.backupCreate, { target: 'warden_nowhere', trigger: 'api' });
      const done = await waitForJobEnd(queue, job, 90_000);
      expect(await done.getState()).toBe('failed');
      expect(done.failedReason).toMatch(/PREFLIGHT_CONNECT_FAILED/);
      expect(existsSync(spoolDir) ? await readdir(spoolDir) : []).toEqual([]);
      expect(existsSync(backupDir) ? await readdir(backupDir) : []).toEqual([]);
    } finally {
      await worker.stop();
    }
  });
});

describe('backup:create', () => {
  it('runs a backup in its own process and prints the backup result as one JSON line', async () => {
    const backupDir = path.join(workDir, 'cli-backups');
    const cli = startWardenProcess(
      'apps/worker/src/cli/backup-create.ts',
      workerEnv({ BACKUP_DIR: backupDir, BACKUP_SPOOL_DIR: path.join(workDir, 'cli-spool') }),
    );
    const stdout: string[] = [];
    cli.child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk.toString()));
    expect(await cli.exited).toBe(0);
    const printed = stdout.join('').trim().split('\n');
    expect(printed).toHaveLength(1);
    const result = JSON.parse(printed[0] ?? '{}') as Record<string, unknown>;
    expect(result).toMatchObject({ status: 'success', target: database.name, environment: 'e2e' });
    expect(typeof result.size_mb).toBe('number');
    expect(result.sha256).toMatch(/^[0-9a-f]{64}$/);
    await expectRestorable(
      createLocalStorage({ dir: backupDir }),
      String(result.filename),
      String(result.sha256),
    );
  });

  it('exits non-zero with a failed JSON line when the database is unreachable', async () => {
    const cli = startWardenProcess(
      'apps/worker/src/cli/backup-create.ts',
      workerEnv({
        DATABASE_URL: 'postgres://postgres:hunter2-secret@127.0.0.1:1/warden_nowhere',
        BACKUP_DIR: path.join(workDir, 'cli-fail'),
      }),
    );
    const stdout: string[] = [];
    cli.child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk.toString()));
    expect(await cli.exited).toBe(1);
    const result = JSON.parse(stdout.join('').trim()) as Record<string, unknown>;
    expect(result).toMatchObject({
      status: 'failed',
      target: 'warden_nowhere',
      code: 'PREFLIGHT_CONNECT_FAILED',
    });
    expect(cli.lines.join('\n')).not.toContain('hunter2-secret');
  });
});

describe('start-up checks', () => {
  it('refuses bad configuration, listing every problem', async () => {
    const worker = startWardenProcess(
      'apps/worker/src/main.ts',
      testEnv({ DATABASE_URL: 'mysql:/nope', BACKUP_S3_BUCKET: 'b', REDIS_URL: REDIS_URL }),
    );
    processes.push(worker);
    expect(await worker.exited).toBe(2);
    const output = worker.lines.join('\n');
    expect(output).toContain('DATABASE_URL:');
    expect(output).toContain('AWS_REGION: required when BACKUP_S3_BUCKET is set');
    expect(output).not.toMatch(/\n\s+at /);
  });

  it('backup:create refuses an unknown target with the known ones', async () => {
    const cli = startWardenProcess(
      'apps/worker/src/cli/backup-create.ts',
      workerEnv({ BACKUP_DIR: path.join(workDir, 'cli') }),
      ['--target', 'nope'],
    );
    expect(await cli.exited).toBe(2);
    expect(cli.lines.join('\n')).toContain(`unknown target "nope" (known: ${database.name})`);
  });
});
