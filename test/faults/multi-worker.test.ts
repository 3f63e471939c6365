/**
 * Several worker replicas on one queue: they share the work, never run two backups of a
 * target at once, and never let two backups of a target share a file name (one would overwrite the
 * other in storage).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { type BackupManifest, listBackups } from '@warden/catalog';
import { JOB_NAMES } from '@warden/queue';
import { createLocalStorage } from '@warden/storage';
import type { Job } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { writePgDumpWrapper } from '../helpers/pg-dump-wrapper.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg-fixtures.js';
import { startWardenProcess, testEnv, type WardenProcess, waitFor } from '../helpers/processes.js';
import { createTestQueue } from '../helpers/queues.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const queuePrefix = `warden-fault-multi-${randomBytes(4).toString('hex')}`;
const testQueue = createTestQueue({ prefix: queuePrefix });
const { queue } = testQueue;

const databases: TestDatabase[] = [];
let workDir: string;
let configFile: string;
const processes: WardenProcess[] = [];

async function startWorker(backupDir: string, extra: Record<string, string>): Promise<WardenProcess> {
  const worker = startWardenProcess(
    'apps/worker/src/main.ts',
    testEnv({
      WARDEN_CONFIG: configFile,
      BACKUP_ENVIRONMENT: 'fault',
      REDIS_URL,
      QUEUE_PREFIX: queuePrefix,
      BACKUP_DIR: backupDir,
      BACKUP_SPOOL_DIR: path.join(workDir, `spool-${processes.length}`),
      BACKUP_MIN_FREE_MB: '0',
      WORKER_METRICS_PORT: '0',
      WORKER_LOCK_DURATION_MS: '2000',
      WORKER_STALLED_INTERVAL_MS: '2000',
      ...extra,
    }),
  );
  processes.push(worker);
  await worker.waitForLine(/"msg":"worker started"/, 60_000);
  return worker;
}

async function runAll(jobs: Job[], timeoutMs = 90_000): Promise<Job[]> {
  return Promise.all(
    jobs.map((job) =>
      waitFor(
        async () => {
          // State first, then the job: a job read before it finished would lack its result.
          const state = await queue.getJobState(job.id ?? '');
          const fresh =
            state === 'completed' || state === 'failed' ? await queue.getJob(job.id ?? '') : undefined;
          if (state === 'failed') throw new Error(`job ${job.id} failed: ${fresh?.failedReason}`);
          return state === 'completed' ? fresh : undefined;
        },
        timeoutMs,
        `job ${job.id} to complete`,
      ),
    ),
  );
}

/** Backups of one target never overlap in time. */
function expectNoOverlap(manifests: BackupManifest[]) {
  const spans = manifests
    .map((manifest) => [Date.parse(manifest.started_at), Date.parse(manifest.finished_at)] as const)
    .sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    expect(spans[i]?.[0]).toBeGreaterThanOrEqual(spans[i - 1]?.[1] ?? 0);
  }
}

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'warden-fault-multi-'));
  // Empty databases dump in a fraction of a second: back-to-back backups land in the same second.
  databases.push(await createTestDatabase({ prefix: 'warden_fault_multi_a', seed: false }));
  databases.push(await createTestDatabase({ prefix: 'warden_fault_multi_b', seed: false }));
  configFile = path.join(workDir, 'targets.json');
  writeFileSync(
    configFile,
    JSON.stringify({ targets: databases.map((db) => ({ name: db.name, url: db.url })) }),
  );
});

afterEach(async () => {
  await Promise.all(processes.splice(0).map((p) => p.stop('SIGKILL')));
  await queue.obliterate({ force: true }).catch(() => undefined);
});

afterAll(async () => {
  await testQueue.close();
  for (const db of databases) await db.drop();
  await rm(workDir, { recursive: true, force: true });
});

describe('several workers on one queue', () => {
  it('back-to-back backups of one target get distinct file names; none overwrites another', async () => {
    const backupDir = path.join(workDir, 'back-to-back');
    await startWorker(backupDir, { WORKER_CONCURRENCY: '1' });
    const target = databases[0]?.name ?? '';
    const jobs = await queue.addBulk(
      Array.from({ length: 5 }, () => ({
        name: JOB_NAMES.backupCreate,
        data: { target, trigger: 'api' as const },
      })),
    );
    const done = await runAll(jobs);
    const results = done.map((job) => job.returnvalue as { filename: string; sha256: string });
    expect(new Set(results.map((result) => result.filename)).size).toBe(5);
    const storage = createLocalStorage({ dir: backupDir });
    const manifests = await listBackups(storage, { target, limit: 100 });
    await storage.close();
    expect(manifests).toHaveLength(5);
    // Each job's recorded checksum is the one stored: nothing was overwritten after the fact.
    for (const result of results) {
      expect(manifests.find((m) => m.filename === result.filename)?.sha256).toBe(result.sha256);
    }
    expectNoOverlap(manifests);
  });

  it('two replicas share the jobs of two targets, one backup per target at a time', async () => {
    const backupDir = path.join(workDir, 'shared');
    // The first two dumps wait for each other (up to 30 s): with one job at a time per replica they
    // can only run on different replicas, so both replicas take part however fast either one is.
    const barrierDir = path.join(workDir, 'barrier');
    mkdirSync(barrierDir);
    const pgDump = writePgDumpWrapper(
      workDir,
      'pg_dump-barrier',
      `touch '${barrierDir}/started.'$$; i=0; ` +
        `while [ "$(ls '${barrierDir}' | wc -l)" -lt 2 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done`,
    );
    const replica = { WORKER_CONCURRENCY: '1', PG_DUMP_PATH: pgDump };
    const workers = [await startWorker(backupDir, replica), await startWorker(backupDir, replica)];
    const jobs = await queue.addBulk(
      databases.flatMap((db) =>
        Array.from({ length: 3 }, () => ({
          name: JOB_NAMES.backupCreate,
          data: { target: db.name, trigger: 'api' as const },
        })),
      ),
    );
    const done = await runAll(jobs);
    const processedBy = new Set(done.map((job) => job.processedBy));
    expect(processedBy).toEqual(new Set(workers.map((worker) => `${hostname()}:${worker.pid}`)));
    expect(readdirSync(barrierDir)).toHaveLength(jobs.length); // every dump went through the barrier

    const storage = createLocalStorage({ dir: backupDir });
    for (const db of databases) {
      const manifests = await listBackups(storage, { target: db.name, limit: 100 });
      expect(manifests).toHaveLength(3);
      expect(new Set(manifests.map((m) => m.job_id))).toEqual(
        new Set(done.filter((job) => job.data.target === db.name).map((job) => job.id)),
      );
      expectNoOverlap(manifests);
    }
    await storage.close();
  });
});
