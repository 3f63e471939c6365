/**
 * Fault: a worker dies (kill -9) or is stopped (SIGTERM) while pg_dump runs. Real worker processes,
 * the shared Redis under a unique prefix, a scratch database on the shared PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { listBackups } from '@warden/catalog';
import { JOB_NAMES } from '@warden/queue';
import { createLocalStorage } from '@warden/storage';
import type { Job } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/pg-fixtures.js';
import {
  startWardenProcess,
  testEnv,
  type WardenProcess,
  waitFor,
  waitForJobEnd,
} from '../helpers/processes.js';
import { createTestQueue } from '../helpers/queues.js';
import { createSlowPgDump, jsonLines, listFilesRecursive, type SlowPgDump } from './fault-helpers.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const queuePrefix = `warden-fault-sig-${randomBytes(4).toString('hex')}`;
const testQueue = createTestQueue({ prefix: queuePrefix });
const { queue } = testQueue;

let database: TestDatabase;
let workDir: string;
const processes: WardenProcess[] = [];
const wrappers: SlowPgDump[] = [];

interface Scenario {
  dir: string;
  spoolDir: string;
  backupDir: string;
  pgDump: SlowPgDump;
}

async function scenario(name: string, options: Parameters<typeof createSlowPgDump>[1]): Promise<Scenario> {
  const dir = path.join(workDir, name);
  await mkdir(dir, { recursive: true });
  const pgDump = createSlowPgDump(dir, options);
  wrappers.push(pgDump);
  return { dir, spoolDir: path.join(dir, 'spool'), backupDir: path.join(dir, 'backups'), pgDump };
}

async function startWorker(s: Scenario, extra: Record<string, string> = {}): Promise<WardenProcess> {
  const worker = startWardenProcess(
    'apps/worker/src/main.ts',
    testEnv({
      DATABASE_URL: database.url,
      BACKUP_ENVIRONMENT: 'fault',
      REDIS_URL,
      QUEUE_PREFIX: queuePrefix,
      BACKUP_DIR: s.backupDir,
      BACKUP_SPOOL_DIR: s.spoolDir,
      BACKUP_MIN_FREE_MB: '0',
      PG_DUMP_PATH: s.pgDump.path,
      WORKER_METRICS_PORT: '0',
      WORKER_LOCK_DURATION_MS: '4000',
      WORKER_STALLED_INTERVAL_MS: '2000',
      // pigz writes each 128 KiB block as it is done; igzip holds its first ~1 MB, so on this small
      // database the partial file these tests wait for would stay empty while pg_dump hangs.
      BACKUP_GZIP_ENGINE: 'pigz',
      LOG_LEVEL: 'info',
      ...extra,
    }),
  );
  processes.push(worker);
  await worker.waitForLine(/"msg":"worker started"/, 60_000);
  return worker;
}

async function jobState(job: Job): Promise<string | undefined> {
  return (await queue.getJob(job.id ?? ''))?.getState();
}

async function partialFiles(spoolDir: string): Promise<string[]> {
  return existsSync(spoolDir) ? (await readdir(spoolDir)).filter((name) => name.endsWith('.partial')) : [];
}

/** Waits until the slow pg_dump has written its output and the worker holds a non-empty partial file. */
async function waitForSlowDump(s: Scenario): Promise<string> {
  return waitFor(
    async () => {
      if (!existsSync(s.pgDump.slowStartedFile)) return undefined;
      const [partial] = await partialFiles(s.spoolDir);
      if (!partial) return undefined;
      return (await stat(path.join(s.spoolDir, partial))).size > 0 ? partial : undefined;
    },
    30_000,
    'the slow pg_dump to be running with a partial spool file',
  );
}

/** The catalog holds exactly one backup, and storage holds nothing but its dump and manifest. */
async function expectSingleCleanBackup(s: Scenario, filename: string) {
  const storage = createLocalStorage({ dir: s.backupDir });
  const backups = await listBackups(storage, { target: database.name });
  await storage.close();
  expect(backups.map((backup) => backup.filename)).toEqual([filename]);
  expect(await listFilesRecursive(s.backupDir)).toEqual(
    [`${database.name}/${filename}`, `${database.name}/${filename}.manifest.json`].sort(),
  );
}

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'warden-fault-sig-'));
  database = await createTestDatabase({ prefix: 'warden_fault_sig', seed: { orders: 2_000 } });
});

afterEach(async () => {
  await Promise.all(processes.splice(0).map((p) => p.stop('SIGKILL')));
  for (const wrapper of wrappers.splice(0)) await wrapper.cleanup();
});

afterAll(async () => {
  await testQueue.close();
  await database?.drop();
  await rm(workDir, { recursive: true, force: true });
});

describe('worker killed or stopped during pg_dump', () => {
  it('kill -9: another worker recovers the stalled job, completes it and cleans the spool', async () => {
    const s = await scenario('kill', { holdSeconds: 300 });
    const first = await startWorker(s);
    const job = await queue.add(JOB_NAMES.backupCreate, { target: database.name, trigger: 'api' });
    const partial = await waitForSlowDump(s);
    expect(await jobState(job)).toBe('active');

    const second = await startWorker(s);
    process.kill(first.pid, 'SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    // Nothing cleaned up after the dead worker: its partial dump is still there.
    expect(await partialFiles(s.spoolDir)).toEqual([partial]);

    const done = await waitForJobEnd(queue, job, 60_000);
    expect(done.failedReason).toBeUndefined();
    expect(await done.getState()).toBe('completed');
    // Recovered through BullMQ's stalled-job check, and finished by the second worker.
    expect(done.stalledCounter).toBe(1);
    expect(done.processedBy).toBe(`${hostname()}:${second.pid}`);
    expect(s.pgDump.runs()).toBe(2);
    const result = done.returnvalue as { status: string; filename: string };
    expect(result.status).toBe('success');

    // The partial file of the dead worker was removed once the target lock was held again.
    const removed = jsonLines(second.lines).find(
      (line) => line.msg === 'removed a partial dump left by an interrupted backup',
    );
    expect(removed?.file).toBe(path.join(s.spoolDir, partial));
    expect(existsSync(s.spoolDir) ? await readdir(s.spoolDir) : []).toEqual([]);
    await expectSingleCleanBackup(s, result.filename);
  });

  it('SIGTERM past the grace period: the job is handed back, the worker exits 0, another completes it', async () => {
    const s = await scenario('term-handback', { holdSeconds: 300 });
    const graceMs = 3_000;
    const first = await startWorker(s, { WORKER_SHUTDOWN_GRACE_MS: String(graceMs) });
    const job = await queue.add(JOB_NAMES.backupCreate, { target: database.name, trigger: 'api' });
    await waitForSlowDump(s);

    const signalledAt = Date.now();
    process.kill(first.pid, 'SIGTERM');
    expect(await first.exited).toBe(0);
    const shutdownMs = Date.now() - signalledAt;
    expect(shutdownMs).toBeGreaterThanOrEqual(graceMs);
    expect(shutdownMs).toBeLessThan(graceMs + 8_000);
    const logs = jsonLines(first.lines).map((line) => line.msg);
    expect(logs).toContain('jobs still running after the grace period; handing them back');
    expect(logs).toContain('backup interrupted by shutdown; handing the job back');
    // Handed back, not failed: waiting for the next worker, with nothing left in the spool.
    expect(await jobState(job)).toBe('waiting');
    expect((await queue.getJob(job.id ?? ''))?.attemptsMade).toBe(0);
    expect(await partialFiles(s.spoolDir)).toEqual([]);

    await startWorker(s);
    const done = await waitForJobEnd(queue, job, 60_000);
    expect(done.failedReason).toBeUndefined();
    expect(await done.getState()).toBe('completed');
    const result = done.returnvalue as { filename: string };
    expect(existsSync(s.spoolDir) ? await readdir(s.spoolDir) : []).toEqual([]);
    await expectSingleCleanBackup(s, result.filename);
  });

  it('SIGTERM within the grace period: the worker finishes the running backup, then exits 0', async () => {
    const s = await scenario('term-finish', { delaySeconds: 3 });
    const worker = await startWorker(s, { WORKER_SHUTDOWN_GRACE_MS: '30000' });
    const job = await queue.add(JOB_NAMES.backupCreate, { target: database.name, trigger: 'api' });
    await waitFor(async () => (s.pgDump.runs() >= 1 ? true : undefined), 30_000, 'pg_dump to start');

    process.kill(worker.pid, 'SIGTERM');
    expect(await worker.exited).toBe(0);
    const done = await queue.getJob(job.id ?? '');
    expect(await done?.getState()).toBe('completed');
    expect(done?.returnvalue).toMatchObject({ status: 'success' });
    const logs = jsonLines(worker.lines).map((line) => line.msg);
    expect(logs).not.toContain('jobs still running after the grace period; handing them back');
    await expectSingleCleanBackup(
      s,
      String((done?.returnvalue as { filename?: string } | undefined)?.filename),
    );
  });
});
