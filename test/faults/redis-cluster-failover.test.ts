/**
 * A Redis Cluster master dies mid-round. A private cluster (three masters, a replica each), two
 * worker processes sharing one spool directory, three targets whose pg_dump waits at a gate. While
 * all three dumps run, the master holding the queue prefix's hash slot is killed (SIGKILL) and the
 * dumps are let go, so that their upload, job updates, completion and lock release meet the
 * failover. Every target must still end with exactly one backup, no job may stay active, and the
 * spool directory must end empty.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { listBackups } from '@warden/catalog';
import { createRedisConnection, JOB_NAMES, QUEUE_NAMES, type RedisConnection } from '@warden/queue';
import { createLocalStorage } from '@warden/storage';
import { type Job, Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/pg-fixtures.js';
import { startWardenProcess, testEnv, type WardenProcess, waitFor } from '../helpers/processes.js';
import {
  createSlowPgDump,
  listFilesRecursive,
  type PrivateRedisCluster,
  type SlowPgDump,
  startPrivateRedisCluster,
} from './fault-helpers.js';

const hasRedisServer =
  spawnSync('redis-server', ['--version']).status === 0 && spawnSync('redis-cli', ['--version']).status === 0;

const queuePrefix = '{warden-fault-cluster}';
const TARGETS = 3;

let workDir: string;
let cluster: PrivateRedisCluster | undefined;
let pgDump: SlowPgDump | undefined;
let connection: RedisConnection | undefined;
let queue: Queue | undefined;
const databases: TestDatabase[] = [];
const workers: WardenProcess[] = [];

beforeAll(async () => {
  if (!hasRedisServer) return;
  workDir = await mkdtemp(path.join(tmpdir(), 'warden-fault-cluster-'));
  cluster = await startPrivateRedisCluster({ nodeTimeoutMs: 15_000 });
  for (let i = 0; i < TARGETS; i++) {
    databases.push(await createTestDatabase({ prefix: 'warden_fault_cluster', seed: { orders: 300 } }));
  }
  connection = createRedisConnection({
    url: 'redis://127.0.0.1:6379',
    clusterNodes: cluster.ports.map((port) => ({ host: '127.0.0.1', port })),
    role: 'worker',
  });
  connection.on('error', () => undefined);
  queue = new Queue(QUEUE_NAMES.backups, { connection, prefix: queuePrefix });
  queue.on('error', () => undefined);
});

afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.stop('SIGKILL')));
  await pgDump?.cleanup();
  await queue?.close().catch(() => undefined);
  connection?.disconnect();
  await cluster?.destroy();
  for (const database of databases) await database.drop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** The job's state, or undefined while the cluster cannot answer. */
async function stateOf(job: Job): Promise<string | undefined> {
  return queue?.getJobState(job.id ?? '').catch(() => undefined);
}

describe.skipIf(!hasRedisServer)('Redis Cluster failover mid-round', () => {
  it('every target ends with exactly one backup, no job stays active and the spool ends empty', async () => {
    if (!cluster || !queue) throw new Error('cluster not started');
    const gateFile = path.join(workDir, 'dumps-may-go-on');
    pgDump = createSlowPgDump(workDir, { gateFile });
    const configFile = path.join(workDir, 'targets.json');
    writeFileSync(
      configFile,
      JSON.stringify({ targets: databases.map((db) => ({ name: db.name, url: db.url })) }),
    );
    const spoolDir = path.join(workDir, 'spool');
    const backupDir = path.join(workDir, 'backups');
    for (let i = 0; i < 2; i++) {
      const worker = startWardenProcess(
        'apps/worker/src/main.ts',
        testEnv({
          WARDEN_CONFIG: configFile,
          BACKUP_ENVIRONMENT: 'fault',
          REDIS_URL: 'redis://127.0.0.1:6379',
          REDIS_CLUSTER_NODES: cluster.nodeList,
          QUEUE_PREFIX: queuePrefix,
          BACKUP_DIR: backupDir,
          // Shared: a job re-run on the other worker finds what the first run spooled.
          BACKUP_SPOOL_DIR: spoolDir,
          BACKUP_MIN_FREE_MB: '0',
          PG_DUMP_PATH: pgDump.path,
          WORKER_CONCURRENCY: '2',
          WORKER_METRICS_PORT: '0',
          // Short, so that a job whose lock lapsed in the failover is recovered within the test.
          WORKER_LOCK_DURATION_MS: '8000',
          WORKER_STALLED_INTERVAL_MS: '4000',
          UPLOAD_RETRY_DELAY_MS: '1000',
        }),
      );
      workers.push(worker);
    }
    await Promise.all(workers.map((worker) => worker.waitForLine(/"msg":"worker started"/, 60_000)));

    const jobs = await queue.addBulk(
      databases.map((db) => ({
        name: JOB_NAMES.backupCreate,
        data: { target: db.name, trigger: 'api' as const },
      })),
    );
    await waitFor(
      async () => (pgDump && pgDump.runs() >= TARGETS ? true : undefined),
      60_000,
      'all three dumps to start',
    );

    const owner = await cluster.slotOwner(`${queuePrefix}:${QUEUE_NAMES.backups}`);
    const killedAt = Date.now();
    await cluster.kill(owner.master);
    writeFileSync(gateFile, '');
    const promoted = await waitFor(
      async () => {
        const now = await cluster?.slotOwner(queuePrefix).catch(() => undefined);
        return now && now.master !== owner.master ? now.master : undefined;
      },
      60_000,
      'a replica to take over the slot',
    );
    const failoverMs = Date.now() - killedAt;
    expect(owner.replicas).toContain(promoted);

    const finalStates = await waitFor(
      async () => {
        const states = await Promise.all(jobs.map(stateOf));
        return states.every((state) => state === 'completed' || state === 'failed') ? states : undefined;
      },
      150_000,
      'every job to finish',
    );
    const finished = await Promise.all(jobs.map((job) => queue?.getJob(job.id ?? '')));
    const failures = finished
      .filter((job) => job?.failedReason)
      .map((job) => `${job?.id}: ${job?.failedReason}`);
    expect(failures).toEqual([]);
    expect(finalStates).toEqual(jobs.map(() => 'completed'));
    expect(await queue.getActiveCount()).toBe(0);

    const storage = createLocalStorage({ dir: backupDir });
    const perTarget: Record<string, number> = {};
    for (const [i, db] of databases.entries()) {
      const manifests = await listBackups(storage, { target: db.name, limit: 100 });
      perTarget[db.name] = manifests.length;
      expect(manifests.map((manifest) => manifest.job_id)).toEqual([jobs[i]?.id]);
    }
    await storage.close();

    // The spool ends empty: uploaded dumps are removed, and so are the records of finished jobs.
    const leftInSpool = await waitFor(
      async () => {
        const files = await listFilesRecursive(spoolDir);
        return files.length === 0 ? files : undefined;
      },
      60_000,
      'the spool directory to empty',
    ).catch(async () => listFilesRecursive(spoolDir));
    console.log(
      JSON.stringify({
        failoverMs,
        killedMaster: owner.master,
        promoted,
        dumpRuns: pgDump.runs(),
        backupsPerTarget: Object.values(perTarget),
        spoolFilesLeft: leftInSpool.length,
        stalledLogLines: workers
          .flatMap((worker) => worker.lines)
          .filter((line) => line.includes('job stalled')).length,
      }),
    );
    expect(leftInSpool).toEqual([]);
    // No target was dumped twice: a re-run resumed from what its first run stored or spooled.
    expect(pgDump.runs()).toBe(TARGETS);
    expect(workers.every((worker) => worker.child.exitCode === null)).toBe(true);
  });
});
