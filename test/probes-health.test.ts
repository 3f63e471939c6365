import { createMetrics } from '@warden/metrics';
import { createConditionTracker, createSlackNotifier, type NotifyLogger } from '@warden/notify';
import { createHealthChecker, createWorkerHeartbeat, runProbeCycle } from '@warden/probes';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const QUEUE_PREFIX = `warden-test-probes-${process.pid}-${Date.now()}`;
const QUEUES = ['backups', 'restores', 'probes'];
const DEAD_PASSWORD = 'Dead-Target-Pw-123';
const thresholds = { diskWarningPercent: 80, diskCriticalPercent: 90, queueLengthThreshold: 2 };

function recordingLogger(): NotifyLogger & { messages: string[] } {
  const messages: string[] = [];
  const log = (_obj: object, msg?: string) => {
    if (msg) messages.push(msg);
  };
  return { messages, debug: log, info: log, warn: log, error: log };
}

describe('health probes against real Postgres and Redis', () => {
  let redis: Redis;
  const opened: Queue[] = [];

  beforeAll(async () => {
    // A producer-style client (fails fast, as the API's): wait until it is connected.
    redis = new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: 1, enableOfflineQueue: false });
    redis.on('error', () => {});
    await new Promise((resolve) => redis.once('ready', resolve));
  });
  afterAll(async () => {
    await Promise.all(opened.map((queue) => queue.obliterate({ force: true }).then(() => queue.close())));
    const keys = await redis.keys(`${QUEUE_PREFIX}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  const checkerWith = (overrides: Partial<Parameters<typeof createHealthChecker>[0]> = {}) =>
    createHealthChecker({
      databases: [{ name: 'test', url: 'postgres://postgres@127.0.0.1:5432/test' }],
      redis,
      queuePrefix: QUEUE_PREFIX,
      queues: QUEUES,
      spoolDir: '/tmp',
      thresholds,
      timeoutMs: 2_000,
      ...overrides,
    });

  it('reports the shape README documents with every service measured', async () => {
    const heartbeat = createWorkerHeartbeat({
      redis,
      queuePrefix: QUEUE_PREFIX,
      queues: QUEUES,
      workerId: 'w-1',
    });
    heartbeat.start();
    const checker = checkerWith();
    try {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const report = await checker.detailed();
      expect(Object.keys(report).sort()).toEqual(['services', 'status', 'timestamp']);
      expect(Object.keys(report.services).sort()).toEqual(['database', 'disk', 'queues', 'redis', 'workers']);
      expect(report.status, JSON.stringify(report)).toBe('healthy');
      expect(Math.abs(report.timestamp - Date.now() / 1000)).toBeLessThan(5);
      expect(report.services.database?.status).toBe('healthy');
      expect(report.services.database?.response_time_ms).toBeGreaterThan(0);
      expect(report.services.redis).toMatchObject({ status: 'healthy' });
      expect(report.services.redis?.response_time_ms).toBeGreaterThan(0);
      const disk = report.services.disk;
      expect(disk?.usage_percent).toBeGreaterThanOrEqual(0);
      expect(disk?.usage_percent).toBeLessThanOrEqual(100);
      expect(disk?.free_gb).toBeGreaterThan(0);
      expect(report.services.workers).toMatchObject({ status: 'healthy', active_workers: 1 });
      expect(report.services.queues).toMatchObject({
        status: 'healthy',
        backups: { status: 'healthy', waiting: 0, delayed: 0, failed: 0, oldest_waiting_age_s: 0 },
      });
      // Uptime monitors match this exact text.
      expect(JSON.stringify(report)).toContain('"status":"healthy"');
    } finally {
      await heartbeat.stop();
      await checker.close();
    }
  });

  it('marks an unreachable database unhealthy per target without leaking its password', async () => {
    const checker = checkerWith({
      databases: [
        { name: 'test', url: 'postgres://postgres@127.0.0.1:5432/test' },
        { name: 'dead', url: `postgres://backup:${DEAD_PASSWORD}@127.0.0.1:1/app` },
        { name: 'missing', url: 'postgres://postgres@127.0.0.1:5432/warden_probe_no_such_db' },
      ],
    });
    try {
      const report = await checker.detailed();
      const database = report.services.database;
      expect(report.status).toBe('unhealthy');
      expect(database?.status).toBe('unhealthy');
      const targets = database?.targets as Record<string, { status: string; error?: string }>;
      expect(targets.test?.status).toBe('healthy');
      expect(targets.dead?.status).toBe('unhealthy');
      expect(targets.dead?.error).toMatch(/ECONNREFUSED/);
      expect(targets.missing?.status).toBe('unhealthy');
      expect(targets.missing?.error).toContain('does not exist');
      expect(JSON.stringify(report)).not.toContain(DEAD_PASSWORD);
    } finally {
      await checker.close();
    }
  });

  it('marks a dead Redis unhealthy within the timeout', async () => {
    const dead = new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true, maxRetriesPerRequest: null });
    dead.on('error', () => {});
    const checker = checkerWith({ redis: dead, timeoutMs: 500 });
    try {
      const started = Date.now();
      const report = await checker.detailed();
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(report.status).toBe('unhealthy');
      expect(report.services.redis).toMatchObject({ status: 'unhealthy' });
      expect(report.services.redis?.error).toContain('did not answer within 500 ms');
      expect(report.services.workers?.status).toBe('unhealthy');
      expect(report.services.queues?.status).toBe('unhealthy');
    } finally {
      await checker.close();
      dead.disconnect();
    }
  });

  it('applies the disk thresholds to every watched path (injected usage)', async () => {
    const usage: Record<string, number> = { '/spool': 50, '/backups': 50 };
    const heartbeat = createWorkerHeartbeat({
      redis,
      queuePrefix: QUEUE_PREFIX,
      queues: QUEUES,
      workerId: 'w-2',
    });
    heartbeat.start();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const checker = checkerWith({
      spoolDir: '/spool',
      diskPaths: ['/backups'],
      diskUsage: async (path) => ({ usedPercent: usage[path] ?? 0, freeBytes: 10 * 1024 ** 3 }),
    });
    try {
      expect((await checker.detailed()).services.disk).toMatchObject({
        status: 'healthy',
        usage_percent: 50,
      });
      usage['/backups'] = 80; // not above 80
      expect((await checker.detailed()).services.disk?.status).toBe('healthy');
      usage['/backups'] = 85.5;
      const degraded = await checker.detailed();
      expect(degraded.services.disk).toMatchObject({
        status: 'degraded',
        usage_percent: 85.5,
        free_gb: 10,
        path: '/backups',
      });
      expect(degraded.status).toBe('degraded');
      usage['/spool'] = 95;
      const critical = await checker.detailed();
      expect(critical.services.disk).toMatchObject({
        status: 'unhealthy',
        usage_percent: 95,
        path: '/spool',
      });
      expect(critical.status).toBe('unhealthy');
    } finally {
      await heartbeat.stop();
      await checker.close();
    }
  });

  it('reports waiting, delayed and failed jobs and the oldest waiting age per queue', async () => {
    const connection = { host: '127.0.0.1', port: 6379 };
    const backups = new Queue('backups', { connection, prefix: QUEUE_PREFIX });
    const restores = new Queue('restores', { connection, prefix: QUEUE_PREFIX });
    opened.push(backups, restores);
    await backups.add('backup.create', { target: 'a' }, { timestamp: Date.now() - 120_000 });
    await backups.add('backup.create', { target: 'b' });
    // A scheduler's next run: delayed, not yet due, so not a backlog.
    await backups.add('backup.create', { target: 'c' }, { delay: 60_000 });
    // Due but not taken (no worker promotes it here): counts as backlog.
    await backups.add('backup.create', { target: 'd' }, { delay: 1 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const worker = new Worker(
      'restores',
      async () => {
        throw new Error('restore failed on purpose');
      },
      { connection: { ...connection, maxRetriesPerRequest: null }, prefix: QUEUE_PREFIX },
    );
    worker.on('error', () => {});
    const failed = new Promise((resolve) => worker.once('failed', resolve));
    await restores.add('restore.run', { target: 'a' });
    await failed;
    await worker.close();

    const checker = checkerWith();
    try {
      const report = await checker.detailed();
      const queues = report.services.queues as Record<string, unknown>;
      expect(queues.backups).toMatchObject({
        status: 'degraded',
        waiting: 2,
        delayed: 2,
        overdue: 1,
        backlog: 3,
        failed: 0,
      });
      const age = (queues.backups as { oldest_waiting_age_s: number }).oldest_waiting_age_s;
      expect(age).toBeGreaterThanOrEqual(119);
      expect(age).toBeLessThan(200);
      expect(queues.restores).toMatchObject({ status: 'healthy', waiting: 0, failed: 1 });
      expect(queues.status).toBe('degraded');
      expect(queues.error).toContain('backups');
    } finally {
      await checker.close();
    }
  });

  it('reports backup age per target against its schedule', async () => {
    const finished: Record<string, string | undefined> = {
      fresh: new Date(Date.now() - 30_000).toISOString(),
      stale: new Date(Date.now() - 3 * 3600_000).toISOString(),
      never: undefined,
    };
    // A daily schedule whose last run was two hours ago: "fresh" finished after it, "stale" before,
    // whatever the time of day the test runs (an hourly one failed just after the full hour).
    const lastRun = new Date(Date.now() - 2 * 3600_000);
    const schedule = `${lastRun.getUTCMinutes()} ${lastRun.getUTCHours()} * * *`;
    // Watched for two days already; "newcomer" is seen for the first time by this probe.
    const watchedKey = `${QUEUE_PREFIX}:probes:watched-since`;
    const twoDaysAgo = String(Date.now() - 48 * 3600_000);
    await redis.hset(watchedKey, { fresh: twoDaysAgo, stale: twoDaysAgo, never: twoDaysAgo });
    const checker = checkerWith({
      backups: {
        graceMs: 0,
        targets: [...Object.keys(finished), 'newcomer'].map((name) => ({ name, schedule, timezone: 'UTC' })),
        listLatest: async (target) => (finished[target] ? { finished_at: finished[target] } : undefined),
      },
    });
    try {
      const report = await checker.detailed();
      const targets = report.services.backups?.targets as Record<string, { status: string; age_s?: number }>;
      expect(targets.fresh?.status).toBe('healthy');
      expect(targets.fresh?.age_s).toBeGreaterThanOrEqual(29);
      expect(targets.stale).toMatchObject({ status: 'degraded' });
      expect(targets.stale?.age_s).toBeGreaterThanOrEqual(3 * 3600 - 1);
      expect(targets.never?.status).toBe('degraded');
      // Not overdue before its first scheduled run (tomorrow) plus grace.
      expect(targets.newcomer).toMatchObject({ status: 'healthy', awaiting_first_run: true });
      expect(Number(await redis.hget(watchedKey, 'newcomer'))).toBeGreaterThan(Date.now() - 60_000);
      expect(report.services.backups?.status).toBe('degraded');
      expect(report.services.backups?.checked_at).toEqual(expect.any(String));
    } finally {
      await checker.close();
    }
  });

  it('runs a probe cycle: alerts on conditions, resolves them, updates metrics', async () => {
    const logger = recordingLogger();
    const keyPrefix = `${QUEUE_PREFIX}:notify:`;
    const notifier = createSlackNotifier({
      botName: 'Warden',
      redis,
      keyPrefix,
      throttleSeconds: 600,
      logger,
    });
    const tracker = createConditionTracker({ notifier, redis, keyPrefix });
    const metrics = createMetrics({ prefix: 'warden_', collectDefaultMetrics: false });
    const databases = [{ name: 'dead', url: 'postgres://postgres@127.0.0.1:1/app' }];
    // No start-up grace: the checker has been watching long enough to call no heartbeat "no worker".
    const checker = checkerWith({ databases, workerStartGraceMs: 0 });
    try {
      const report = await runProbeCycle({ checker, tracker, metrics, thresholds });
      expect(report.services.database?.status).toBe('unhealthy');
      expect(logger.messages).toContain('alert: Database connection failed: dead');
      expect(logger.messages).toContain('alert: No worker running');
      const exposition = await metrics.registry.metrics();
      expect(exposition).toContain('warden_probe_status{probe="database"} 2');
      expect(exposition).toContain('warden_probe_status{probe="redis"} 0');
      expect(exposition).toContain('warden_queue_jobs{queue="backups",state="waiting"} 2');
      expect(exposition).toContain('warden_workers_active{queue="backups"} 0');

      // The database comes back: one "resolved" message.
      databases[0] = { name: 'dead', url: 'postgres://postgres@127.0.0.1:5432/test' };
      const recovered = createHealthChecker({
        databases,
        redis,
        queuePrefix: QUEUE_PREFIX,
        queues: QUEUES,
        spoolDir: '/tmp',
        thresholds,
      });
      await runProbeCycle({ checker: recovered, tracker, metrics, thresholds });
      await runProbeCycle({ checker: recovered, tracker, metrics, thresholds });
      await recovered.close();
      expect(
        logger.messages.filter((msg) => msg === 'alert: Resolved: Database connection failed: dead'),
      ).toHaveLength(1);
      expect(await metrics.registry.metrics()).toContain('warden_probe_status{probe="database"} 0');
    } finally {
      await checker.close();
    }
  });
});
