/**
 * Fault: the spool file system fills up during a dump. The spool directory is a real 4 MiB tmpfs
 * (falling back to a loop-mounted ext4 image where tmpfs cannot be mounted), the dump needs more.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { JOB_NAMES } from '@warden/queue';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase, withClient } from '../helpers/pg-fixtures.js';
import { startWardenProcess, testEnv, type WardenProcess, waitForJobEnd } from '../helpers/processes.js';
import { createTestQueue } from '../helpers/queues.js';
import { jsonLines, listFilesRecursive } from './fault-helpers.js';

const run = promisify(execFile);
const REDIS_URL = 'redis://127.0.0.1:6379';
const SPOOL_BYTES = 4 * 1024 * 1024;
const queuePrefix = `warden-fault-disk-${randomBytes(4).toString('hex')}`;
const testQueue = createTestQueue({ prefix: queuePrefix });
const { queue } = testQueue;

let database: TestDatabase;
let workDir: string;
let spoolDir: string;
let mounted = false;
let worker: WardenProcess | undefined;

/** Mounts a small file system at `dir`: tmpfs, or a loop-mounted ext4 image when tmpfs is refused. */
async function mountSmallFileSystem(dir: string): Promise<string> {
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${SPOOL_BYTES},mode=0700`, 'tmpfs', dir]);
    return 'tmpfs';
  } catch (tmpfsError) {
    const image = path.join(workDir, 'spool.img');
    try {
      await run('truncate', ['-s', String(SPOOL_BYTES), image]);
      await run('mkfs.ext4', ['-q', '-m', '0', image]);
      await run('mount', ['-o', 'loop', image, dir]);
      return 'ext4 loop image';
    } catch (loopError) {
      throw new Error(
        `cannot mount a small spool file system (tmpfs: ${String(tmpfsError)}; loop: ${String(loopError)})`,
      );
    }
  }
}

async function startWorker(extra: Record<string, string>): Promise<WardenProcess> {
  worker = startWardenProcess(
    'apps/worker/src/main.ts',
    testEnv({
      DATABASE_URL: database.url,
      BACKUP_ENVIRONMENT: 'fault',
      REDIS_URL,
      QUEUE_PREFIX: queuePrefix,
      BACKUP_DIR: path.join(workDir, 'backups'),
      BACKUP_SPOOL_DIR: spoolDir,
      WORKER_METRICS_PORT: '0',
      ...extra,
    }),
  );
  await worker.waitForLine(/"msg":"worker started"/, 60_000);
  return worker;
}

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'warden-fault-disk-'));
  spoolDir = path.join(workDir, 'spool');
  await mkdir(spoolDir);
  const kind = await mountSmallFileSystem(spoolDir);
  mounted = true;
  process.stdout.write(`spool file system: ${kind}\n`);
  database = await createTestDatabase({ prefix: 'warden_fault_disk', seed: false });
  // Random hex compresses to about half: ~15 MB of SQL, ~8 MB of gzip, twice the spool.
  await withClient(database.name, (client) =>
    client.query(
      `CREATE TABLE noise AS SELECT g AS id, md5(random()::text) || md5(random()::text) || md5(random()::text) AS t
         FROM generate_series(1, 150000) AS g`,
    ),
  );
});

afterEach(async () => {
  await worker?.stop('SIGKILL');
  worker = undefined;
});

afterAll(async () => {
  if (mounted) await run('umount', [spoolDir]);
  await testQueue.close();
  await database?.drop();
  await rm(workDir, { recursive: true, force: true });
});

describe('spool disk full', () => {
  it('refuses to start a dump when the spool has less room than BACKUP_MIN_FREE_MB', async () => {
    await startWorker({});
    const job = await queue.add(JOB_NAMES.backupCreate, { target: database.name, trigger: 'api' });
    const done = await waitForJobEnd(queue, job, 60_000);
    expect(await done.getState()).toBe('failed');
    expect(done.failedReason).toMatch(/INSUFFICIENT_SPACE: only .* free in spool directory .* at least 256/);
    expect(await readdir(spoolDir)).toEqual([]);
  });

  it('fails clearly when the disk fills during the dump, and leaves no partial file', async () => {
    const running = await startWorker({ BACKUP_MIN_FREE_MB: '1' });
    const job = await queue.add(JOB_NAMES.backupCreate, { target: database.name, trigger: 'api' });
    const done = await waitForJobEnd(queue, job, 60_000);
    expect(await done.getState()).toBe('failed');
    expect(done.failedReason).toMatch(
      /^INSUFFICIENT_SPACE: spool file system full while writing .*\.partial/,
    );
    const failure = jsonLines(running.lines).find((line) => line.msg === 'backup failed');
    expect(failure?.code).toBe('INSUFFICIENT_SPACE');
    // The partial file is gone and the space is free again.
    expect(await readdir(spoolDir)).toEqual([]);
    const stats = await statfs(spoolDir);
    expect(Number(stats.bfree) * Number(stats.bsize)).toBeGreaterThan(SPOOL_BYTES * 0.9);
    expect(await listFilesRecursive(path.join(workDir, 'backups'))).toEqual([]);
  });
});
