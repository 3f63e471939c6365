/**
 * Fault: Redis restarts while the API and a worker run and backups are scheduled every few seconds.
 * A private redis-server with an append-only file (as docker-compose runs Redis) on a free port;
 * the shared Redis is never touched.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { listBackups } from '@warden/catalog';
import { createRedisConnection, QUEUE_NAMES, schedulerIds } from '@warden/queue';
import { createLocalStorage } from '@warden/storage';
import { type Job, Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/pg-fixtures.js';
import { startWardenProcess, testEnv, type WardenProcess, waitFor } from '../helpers/processes.js';
import { freePort, jsonLines, type PrivateRedis, startPrivateRedis } from './fault-helpers.js';

const TOKEN = 'fault-redis-token-0123456789abcdef';
const SCHEDULE = '*/4 * * * * *';
const queuePrefix = `warden-fault-redis-${randomBytes(4).toString('hex')}`;

let database: TestDatabase;
let workDir: string;
let redisServer: PrivateRedis;
let api: WardenProcess | undefined;
let worker: WardenProcess | undefined;
let inspector: ReturnType<typeof createRedisConnection> | undefined;
let queue: Queue;
let apiUrl: string;

async function completedBackups(): Promise<Job[]> {
  const jobs = await queue.getJobs(['completed'], 0, -1);
  return jobs.filter((job): job is Job => job !== undefined);
}

/** The parts of API answers these tests read. */
interface ApiBody {
  jobId: string;
  state: string;
  status: string;
  services: Record<string, { status: string }>;
  backups: unknown[];
}

async function http(method: string, route: string, timeoutMs = 10_000) {
  const response = await fetch(`${apiUrl}${route}`, {
    method,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
    },
    ...(method === 'POST' ? { body: JSON.stringify({ target: database.name }) } : {}),
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: response.status, body: (await response.json()) as ApiBody };
}

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'warden-fault-redis-'));
  database = await createTestDatabase({ prefix: 'warden_fault_redis', seed: { orders: 1_000 } });
  redisServer = await startPrivateRedis({ appendOnly: true });
  inspector = createRedisConnection({ url: redisServer.url, role: 'worker' });
  inspector.on('error', () => undefined);
  queue = new Queue(QUEUE_NAMES.backups, { connection: inspector, prefix: queuePrefix });
  queue.on('error', () => undefined);
});

afterAll(async () => {
  await api?.stop('SIGKILL');
  await worker?.stop('SIGKILL');
  await queue?.close().catch(() => undefined);
  inspector?.disconnect();
  await redisServer?.destroy();
  await database?.drop();
  await rm(workDir, { recursive: true, force: true });
});

describe('Redis restarted mid-run', () => {
  it('API and worker reconnect, the schedulers survive, no backup runs twice', async () => {
    const port = await freePort();
    apiUrl = `http://127.0.0.1:${port}`;
    const backupDir = path.join(workDir, 'backups');
    const env = testEnv({
      DATABASE_URL: database.url,
      BACKUP_ENVIRONMENT: 'fault',
      BACKUP_SCHEDULE: SCHEDULE,
      REDIS_URL: redisServer.url,
      QUEUE_PREFIX: queuePrefix,
      BACKUP_DIR: backupDir,
      BACKUP_SPOOL_DIR: path.join(workDir, 'spool'),
      BACKUP_MIN_FREE_MB: '0',
      PORT: String(port),
      ADMIN_API_TOKEN: TOKEN,
      WORKER_METRICS_PORT: '0',
      // /health/detailed answers from the latest cycle: a short interval shows recovery soon.
      PROBE_INTERVAL_SECONDS: '5',
    });
    api = startWardenProcess('apps/api/src/main.ts', env);
    await api.waitForLine(/"msg":"api listening"/, 60_000);
    worker = startWardenProcess('apps/worker/src/main.ts', env);
    await worker.waitForLine(/"msg":"worker started"/, 60_000);

    const schedulersBefore = await queue.getJobSchedulers();
    expect(schedulersBefore.map((s) => [s.key, s.pattern])).toContainEqual([
      schedulerIds.backup(database.name),
      SCHEDULE,
    ]);
    await waitFor(
      async () => ((await completedBackups()).length >= 2 ? true : undefined),
      30_000,
      'two scheduled backups before the restart',
    );

    // Redis goes away: both processes stay up and answer quickly instead of hanging.
    await redisServer.stop();
    const downAt = Date.now();
    const health = await http('GET', '/health/detailed');
    expect(health.status).toBe(503);
    expect(health.body.services.redis?.status).toBe('unhealthy');
    const refused = await http('POST', '/api/admin/backup');
    expect(refused.status).toBeGreaterThanOrEqual(500);
    expect(Date.now() - downAt).toBeLessThan(15_000);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await redisServer.start();
    const upAt = Date.now();

    // The schedulers came back from the append-only file, unchanged.
    const schedulersAfter = await queue.getJobSchedulers();
    expect(schedulersAfter.map((s) => [s.key, s.pattern]).sort()).toEqual(
      schedulersBefore.map((s) => [s.key, s.pattern]).sort(),
    );
    // The worker takes scheduled backups again.
    await waitFor(
      async () => {
        const after = (await completedBackups()).filter((job) => (job.processedOn ?? 0) > upAt);
        return after.length >= 2 ? true : undefined;
      },
      40_000,
      'two scheduled backups after the restart',
    );
    // The API reconnected: health is green for Redis and it queues backups again.
    await waitFor(
      async () => {
        const detailed = await http('GET', '/health/detailed');
        return detailed.body.services?.redis?.status === 'healthy' ? true : undefined;
      },
      20_000,
      'redis healthy in /health/detailed',
    );
    const accepted = await http('POST', '/api/admin/backup');
    expect(accepted.status).toBe(202);

    // Stop everything, then compare what ran with what was stored.
    expect(await worker.stop('SIGTERM')).toBe(0);
    expect(await api.stop('SIGTERM')).toBe(0);
    expect(jsonLines(worker.lines).some((line) => line.msg === 'redis connection error')).toBe(true);

    const jobs = await completedBackups();
    const storage = createLocalStorage({ dir: backupDir });
    const manifests = await listBackups(storage, { target: database.name, limit: 1000 });
    await storage.close();
    // Every stored backup belongs to exactly one completed job, and every job stored exactly one.
    const manifestJobIds = manifests.map((manifest) => manifest.job_id);
    expect(new Set(manifestJobIds).size).toBe(manifestJobIds.length);
    expect([...manifestJobIds].sort()).toEqual(jobs.map((job) => job.id).sort());
    expect(new Set(jobs.map((job) => (job.returnvalue as { filename: string }).filename)).size).toBe(
      jobs.length,
    );
    // One job per scheduler slot (scheduler job ids end in the slot's time).
    const slots = jobs
      .map((job) => job.id ?? '')
      .filter((id) => id.startsWith('repeat:'))
      .map((id) => id.split(':').at(-1));
    expect(new Set(slots).size).toBe(slots.length);
    // Never two backups of the target at once.
    const spans = manifests
      .map((manifest) => [Date.parse(manifest.started_at), Date.parse(manifest.finished_at)] as const)
      .sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) {
      expect(spans[i]?.[0]).toBeGreaterThanOrEqual(spans[i - 1]?.[1] ?? 0);
    }
  });
});
