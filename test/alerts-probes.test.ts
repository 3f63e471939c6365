/**
 * Periodic health probes end to end (issue 5): the real API process runs the probe cycle from the
 * `probes` queue every PROBE_INTERVAL_SECONDS and alerts through a fake Slack webhook; a real worker
 * process provides (or, when stopped, stops providing) the heartbeat. Disk usage cannot be pushed
 * over a threshold for real, so that case runs the same probe cycle in-process with injected usage.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '@warden/logging';
import { createConditionTracker, createSlackNotifier } from '@warden/notify';
import { createHealthChecker, runProbeCycle } from '@warden/probes';
import { ALL_QUEUE_NAMES, createRedisConnection, JOB_NAMES, QUEUE_NAMES } from '@warden/queue';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type SentryReceiver,
  type SlackMessage,
  type SlackReceiver,
  sampleValue,
  startSentryReceiver,
  startSlackReceiver,
} from './helpers/alerts-receivers.js';
import { uniquePrefix } from './helpers/api-fixtures.js';
import { pgUrl } from './helpers/pg-fixtures.js';
import { startWardenProcess, testEnv, type WardenProcess, waitFor } from './helpers/processes.js';
import { deleteKeysUnder } from './helpers/queues.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const PROBE_INTERVAL_SECONDS = 5;
const QUEUE_LENGTH_THRESHOLD = 3;

const prefix = uniquePrefix('alerts-probes');
const redis = createRedisConnection({ url: REDIS_URL, role: 'worker' });
redis.on('error', () => undefined);
const backups = new Queue(QUEUE_NAMES.backups, { connection: redis, prefix });
backups.on('error', () => undefined);
const processes: WardenProcess[] = [];
let workDir: string;
let slack: SlackReceiver;
let sentry: SentryReceiver;
let api: { process: WardenProcess; url: string };
let worker: WardenProcess;

function baseEnv(extra: Record<string, string | undefined> = {}) {
  return testEnv({
    DATABASE_URL: pgUrl('test'),
    BACKUP_ENVIRONMENT: 'alerts',
    BACKUP_DIR: path.join(workDir, 'backups'),
    BACKUP_SPOOL_DIR: path.join(workDir, 'spool'),
    // No schedulers besides the probes: backup freshness and restore tests are other tests' business.
    BACKUP_ENABLED: 'false',
    RESTORE_VERIFY_ENABLED: 'false',
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    SLACK_WEBHOOK_URL: slack.webhookUrl,
    SENTRY_DSN: sentry.dsn,
    PROBE_INTERVAL_SECONDS: String(PROBE_INTERVAL_SECONDS),
    QUEUE_LENGTH_THRESHOLD: String(QUEUE_LENGTH_THRESHOLD),
    PORT: '0',
    WORKER_METRICS_PORT: '0',
    LOG_LEVEL: 'info',
    ...extra,
  });
}

async function startApi(env: NodeJS.ProcessEnv): Promise<{ process: WardenProcess; url: string }> {
  const child = startWardenProcess('apps/api/src/main.ts', env);
  processes.push(child);
  const line = await child.waitForLine(/"msg":"api listening"/, 60_000);
  await child.waitForLine(/"msg":"probe runner started"/, 30_000);
  const address = String((JSON.parse(line) as { address: string }).address);
  return { process: child, url: `http://127.0.0.1:${new URL(address).port}` };
}

async function startWorker(): Promise<WardenProcess> {
  const child = startWardenProcess('apps/worker/src/main.ts', baseEnv());
  processes.push(child);
  await child.waitForLine(/"msg":"worker started"/, 60_000);
  return child;
}

async function detailed(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${url}/health/detailed`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const byKey = (key: string) => (message: SlackMessage) => message.key === key;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'warden-alerts-probes-'));
  slack = await startSlackReceiver();
  sentry = await startSentryReceiver();
  // The worker first, so that the API's first probe cycle already sees its heartbeat.
  worker = await startWorker();
  await waitFor(
    async () => ((await redis.zcard(`${prefix}:heartbeats:${QUEUE_NAMES.backups}`)) > 0 ? true : undefined),
    15_000,
    'the worker heartbeat',
  );
  api = await startApi(baseEnv());
});

afterAll(async () => {
  await Promise.all(processes.map((child) => child.stop('SIGKILL')));
  await backups.close();
  await deleteKeysUnder(redis, prefix);
  await redis.quit();
  await slack?.receiver.close();
  await sentry?.receiver.close();
  await rm(workDir, { recursive: true, force: true });
});

describe('health probes run by the real API process', () => {
  it('serves /health/detailed in the shape README documents while everything is up', async () => {
    const { status, body } = await detailed(api.url);
    expect(status).toBe(200);
    expect(body.status).toBe('healthy');
    expect(Number.isInteger(body.timestamp)).toBe(true);
    const services = body.services as Record<string, Record<string, unknown>>;
    expect(services.database).toMatchObject({ status: 'healthy', response_time_ms: expect.any(Number) });
    expect(services.redis).toMatchObject({ status: 'healthy', response_time_ms: expect.any(Number) });
    expect(services.disk).toMatchObject({
      status: 'healthy',
      usage_percent: expect.any(Number),
      free_gb: expect.any(Number),
    });
    expect(services.workers).toMatchObject({ status: 'healthy', active_workers: 1 });
    expect(services.queues).toMatchObject({ status: 'healthy' });
    // Uptime monitors match on this exact text.
    expect(JSON.stringify(body)).toContain('"status":"healthy"');
  });

  it('alerts once when the worker stops, and says "resolved" when a worker is back', async () => {
    // Let at least one cycle run with the worker alive: no "no worker" alert may exist yet.
    await sleep(PROBE_INTERVAL_SECONDS * 1000 + 1_000);
    expect(slack.messages().filter(byKey('health:workers:none'))).toEqual([]);

    expect(await worker.stop()).toBe(0);
    const [alert] = await slack.waitForMessages(byKey('health:workers:none'), 1, 30_000);
    expect(alert?.text).toContain('No worker running');
    expect(alert?.color).toBe('#E01E5A');

    // Three more cycles with the worker still gone: throttled, not repeated.
    await sleep(3 * PROBE_INTERVAL_SECONDS * 1000);
    expect(slack.messages().filter(byKey('health:workers:none'))).toHaveLength(1);
    const metrics = await (await fetch(`${api.url}/metrics`)).text();
    expect(
      sampleValue(metrics, 'warden_notifications_total', ['outcome="suppressed"']),
    ).toBeGreaterThanOrEqual(2);
    expect(sampleValue(metrics, 'warden_workers_active', ['queue="backups"'])).toBe(0);
    const down = await detailed(api.url);
    expect(down.status).toBe(503);
    expect(down.body.services).toMatchObject({ workers: { status: 'unhealthy', active_workers: 0 } });

    worker = await startWorker();
    const [resolved] = await slack.waitForMessages(byKey('health:workers:none:resolved'), 1, 30_000);
    expect(resolved?.text).toContain('Resolved: No worker running');
    expect(resolved?.color).toBe('#2EB67D');
    await sleep(2 * PROBE_INTERVAL_SECONDS * 1000);
    expect(slack.messages().filter(byKey('health:workers:none:resolved'))).toHaveLength(1);
    expect(slack.messages().filter(byKey('health:workers:none'))).toHaveLength(1);
  });

  it('alerts once when a queue is above QUEUE_LENGTH_THRESHOLD, and resolves when it drains', async () => {
    // Jobs delayed an hour are a scheduler's future runs, not a backlog: no alert for them.
    const future = await Promise.all(
      Array.from({ length: QUEUE_LENGTH_THRESHOLD + 2 }, () =>
        backups.add(JOB_NAMES.backupCreate, { target: 'test', trigger: 'api' }, { delay: 3_600_000 }),
      ),
    );
    await sleep(3 * PROBE_INTERVAL_SECONDS * 1000);
    const key = `health:queue:${QUEUE_NAMES.backups}`;
    expect(slack.messages().filter(byKey(key))).toEqual([]);
    await Promise.all(future.map((job) => job.remove()));
    // Ready jobs on a paused queue: nobody consumes them during the test, and they are a backlog.
    await backups.pause();
    const jobs = await Promise.all(
      Array.from({ length: QUEUE_LENGTH_THRESHOLD + 2 }, () =>
        backups.add(JOB_NAMES.backupCreate, { target: 'test', trigger: 'api' }),
      ),
    );
    const [alert] = await slack.waitForMessages(byKey(key), 1, 30_000);
    expect(alert?.text).toContain(
      `Queue backups has ${QUEUE_LENGTH_THRESHOLD + 2} jobs waiting (threshold ${QUEUE_LENGTH_THRESHOLD})`,
    );
    expect(alert?.fields.Waiting).toBe(String(QUEUE_LENGTH_THRESHOLD + 2));
    expect(alert?.color).toBe('#ECB22E');
    await sleep(2 * PROBE_INTERVAL_SECONDS * 1000);
    expect(slack.messages().filter(byKey(key))).toHaveLength(1);
    const metrics = await (await fetch(`${api.url}/metrics`)).text();
    expect(sampleValue(metrics, 'warden_queue_jobs', ['queue="backups"', 'state="backlog"'])).toBe(
      QUEUE_LENGTH_THRESHOLD + 2,
    );
    expect(sampleValue(metrics, 'warden_probe_status', ['probe="queues"'])).toBe(1);

    await Promise.all(jobs.map((job) => job.remove()));
    await backups.resume();
    const [resolved] = await slack.waitForMessages(byKey(`${key}:resolved`), 1, 30_000);
    expect(resolved?.text).toContain('Resolved: Queue backups has');
    await sleep(PROBE_INTERVAL_SECONDS * 1000);
    expect(slack.messages().filter(byKey(`${key}:resolved`))).toHaveLength(1);
  });

  it('answers 503 with the database unreachable, and alerts on it', async () => {
    const otherSlack = await startSlackReceiver();
    const otherPrefix = `${prefix}-pgdown`;
    try {
      const pgDown = await startApi(
        baseEnv({
          // A closed port: the shared Postgres keeps running for the other test files.
          DATABASE_URL: 'postgres://postgres@127.0.0.1:1/warden_nowhere',
          QUEUE_PREFIX: otherPrefix,
          SLACK_WEBHOOK_URL: otherSlack.webhookUrl,
        }),
      );
      const { status, body } = await detailed(pgDown.url);
      expect(status).toBe(503);
      expect(body.status).toBe('unhealthy');
      const database = (body.services as Record<string, Record<string, unknown>>).database;
      expect(database).toMatchObject({
        status: 'unhealthy',
        targets: { warden_nowhere: { status: 'unhealthy' } },
      });
      const [alert] = await otherSlack.waitForMessages(byKey('health:database:warden_nowhere'), 1, 30_000);
      expect(alert?.text).toContain('Database connection failed: warden_nowhere');
      await pgDown.process.stop();
    } finally {
      await otherSlack.receiver.close();
      await deleteKeysUnder(redis, otherPrefix);
    }
  });
});

describe('disk threshold crossing (probe cycle in-process, usage injected)', () => {
  it('warns above 80 %, escalates above 90 %, is throttled in between and resolves once', async () => {
    const diskPrefix = `${prefix}-disk`;
    const client = createRedisConnection({ url: REDIS_URL, role: 'producer' });
    client.on('error', () => undefined);
    const logger = createLogger({ service: 'alerts-disk-test', level: 'silent' });
    const thresholds = { diskWarningPercent: 80, diskCriticalPercent: 90, queueLengthThreshold: 100 };
    let usedPercent = 50;
    const checker = createHealthChecker({
      databases: [],
      redis: client,
      queuePrefix: diskPrefix,
      queues: ALL_QUEUE_NAMES,
      spoolDir: workDir,
      thresholds,
      diskUsage: async () => ({ usedPercent, freeBytes: 12 * 1024 ** 3 }),
    });
    const notifier = createSlackNotifier({
      webhookUrl: slack.webhookUrl,
      botName: 'Warden',
      redis: client,
      keyPrefix: `${diskPrefix}:alerts`,
      throttleSeconds: 600,
      logger,
    });
    const tracker = createConditionTracker({
      notifier,
      redis: client,
      keyPrefix: `${diskPrefix}:alerts`,
      logger,
    });
    const cycle = () => runProbeCycle({ checker, tracker, thresholds, logger });
    const disk = () => slack.messages().filter((message) => message.key.startsWith('health:disk'));
    try {
      await cycle();
      expect(disk()).toEqual([]);

      usedPercent = 85;
      await cycle();
      await cycle();
      expect(disk().map((message) => message.key)).toEqual(['health:disk:warning']);
      expect(disk()[0]?.text).toContain('Disk usage high: 85.0 % (above 80 %)');
      expect(disk()[0]?.fields).toMatchObject({ Usage: '85.0 %', Free: '12 GB' });

      usedPercent = 95;
      await cycle();
      await cycle();
      expect(disk().map((message) => message.key)).toEqual(['health:disk:warning', 'health:disk:critical']);
      expect(disk()[1]?.text).toContain('Disk usage critical: 95.0 % (above 90 %)');

      usedPercent = 40;
      await cycle();
      await cycle();
      expect(disk().map((message) => message.key)).toEqual([
        'health:disk:warning',
        'health:disk:critical',
        'health:disk:critical:resolved',
      ]);
      expect(disk()[2]?.text).toContain('Resolved: Disk usage critical');
    } finally {
      await notifier.close();
      await checker.close();
      await deleteKeysUnder(client, diskPrefix);
      await client.quit();
    }
  });
});
