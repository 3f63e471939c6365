/**
 * The "Redis connection failed" alert: when Redis is down no probe job can be delivered, so the API's
 * probe runner probes in-process and must still alert, once, and say "resolved" when Redis is back,
 * even when Redis comes back empty (no persistence: the job schedulers are gone and are restored).
 * A private redis-server on its own port is stopped and started; the shared Redis is not touched.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRedisConnection, QUEUE_NAMES } from '@warden/queue';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SlackMessage, type SlackReceiver, startSlackReceiver } from './helpers/alerts-receivers.js';
import { pgUrl } from './helpers/pg-fixtures.js';
import { startWardenProcess, testEnv, type WardenProcess, waitFor } from './helpers/processes.js';

const PROBE_INTERVAL_SECONDS = 5;
const has = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;

let workDir: string;
let port: number;
let redisServer: ChildProcess | undefined;
let slack: SlackReceiver;
let api: WardenProcess | undefined;

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port: free } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return free;
}

/** A throw-away redis-server without persistence: a restart loses every key, like a fresh node. */
async function startRedis(): Promise<void> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      cwd: workDir,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  redisServer = child;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('redis-server did not start within 10 s')), 10_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}`));
    });
  });
}

async function stopRedis(): Promise<void> {
  const child = redisServer;
  redisServer = undefined;
  if (!child || child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

const byKey = (key: string) => (message: SlackMessage) => message.key === key;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'warden-alerts-redis-'));
  port = await freePort();
  await startRedis();
  slack = await startSlackReceiver();
  api = startWardenProcess(
    'apps/api/src/main.ts',
    testEnv({
      DATABASE_URL: pgUrl('test'),
      BACKUP_DIR: path.join(workDir, 'backups'),
      BACKUP_SPOOL_DIR: path.join(workDir, 'spool'),
      BACKUP_ENABLED: 'false',
      RESTORE_VERIFY_ENABLED: 'false',
      REDIS_URL: `redis://127.0.0.1:${port}`,
      QUEUE_PREFIX: 'warden-redis-down',
      SLACK_WEBHOOK_URL: slack.webhookUrl,
      PROBE_INTERVAL_SECONDS: String(PROBE_INTERVAL_SECONDS),
      PORT: '0',
      LOG_LEVEL: 'info',
    }),
  );
  await api.waitForLine(/"msg":"probe runner started"/, 60_000);
});

afterAll(async () => {
  await api?.stop('SIGKILL');
  await stopRedis();
  await slack?.receiver.close();
  await rm(workDir, { recursive: true, force: true });
});

describe.skipIf(!has('redis-server'))('Redis outage seen by the API probe runner', () => {
  it('alerts once while Redis is down, resolves when it is back, and restores the lost schedulers', async () => {
    // A first cycle from the queue, with Redis up.
    await sleep(2_000);
    expect(slack.messages().filter(byKey('health:redis'))).toEqual([]);

    await stopRedis();
    const [down] = await slack.waitForMessages(byKey('health:redis'), 1, 30_000);
    expect(down?.text).toContain('Redis connection failed');
    expect(api?.lines.some((line) => line.includes('running health probes in-process'))).toBe(true);
    // More in-process cycles during the outage: throttled in-process, not repeated.
    await sleep(3 * PROBE_INTERVAL_SECONDS * 1000);
    expect(slack.messages().filter(byKey('health:redis'))).toHaveLength(1);

    // Back, but empty: the probes scheduler is gone with the data.
    await startRedis();
    const [resolved] = await slack.waitForMessages(byKey('health:redis:resolved'), 1, 60_000);
    expect(resolved?.text).toContain('Resolved: Redis connection failed');

    const client = createRedisConnection({ url: `redis://127.0.0.1:${port}`, role: 'worker' });
    client.on('error', () => undefined);
    const probes = new Queue(QUEUE_NAMES.probes, { connection: client, prefix: 'warden-redis-down' });
    probes.on('error', () => undefined);
    try {
      const schedulers = await waitFor(
        async () => {
          const found = await probes.getJobSchedulers();
          return found.length > 0 ? found : undefined;
        },
        6 * PROBE_INTERVAL_SECONDS * 1000,
        'the probes scheduler to be restored',
      );
      expect(schedulers.map((scheduler) => scheduler.key)).toEqual(['probes']);
      expect(api?.lines.some((line) => line.includes('restoring the job schedulers'))).toBe(true);
    } finally {
      await probes.close();
      await client.quit();
    }
    expect(slack.messages().filter(byKey('health:redis:resolved'))).toHaveLength(1);
  });
});
