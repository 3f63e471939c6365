import { createWorkerHeartbeat, heartbeatKey, listLiveWorkers, probeWorkers } from '@warden/probes';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const QUEUE_PREFIX = `warden-test-heartbeat-${process.pid}-${Date.now()}`;
const QUEUES = ['backups', 'restores'];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await sleep(25);
  }
}

describe('worker heartbeats in Redis', () => {
  let redis: Redis;

  beforeAll(() => {
    redis = new Redis({ host: '127.0.0.1', port: 6379 });
    redis.on('error', () => {});
  });
  afterAll(async () => {
    const keys = await redis.keys(`${QUEUE_PREFIX}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  const activeWorkers = async (queues = QUEUES) =>
    (await probeWorkers(redis, QUEUE_PREFIX, queues, 1_000)).active_workers as number;

  it('counts a started worker, and none once it stopped', async () => {
    expect(await activeWorkers()).toBe(0);
    expect((await probeWorkers(redis, QUEUE_PREFIX, QUEUES, 1_000)).status).toBe('unhealthy');
    const heartbeat = createWorkerHeartbeat({
      redis,
      queuePrefix: QUEUE_PREFIX,
      queues: QUEUES,
      workerId: 'host-a:1',
    });
    heartbeat.start();
    await waitUntil(async () => (await activeWorkers()) === 1);
    const probe = await probeWorkers(redis, QUEUE_PREFIX, QUEUES, 1_000);
    expect(probe).toMatchObject({
      status: 'healthy',
      active_workers: 1,
      queues: { backups: 1, restores: 1 },
    });

    await heartbeat.stop();
    expect(await activeWorkers()).toBe(0);
  });

  it('calls no heartbeat at all "starting" within the start-up grace, and unhealthy after it', async () => {
    const starting = await probeWorkers(redis, QUEUE_PREFIX, QUEUES, 1_000, {
      startingUntil: Date.now() + 20_000,
    });
    expect(starting).toMatchObject({ status: 'degraded', starting: true, active_workers: 0 });
    expect(starting.error).toMatch(
      /no worker heartbeat yet; workers that start now have 2\d s more to report/,
    );
    const late = await probeWorkers(redis, QUEUE_PREFIX, QUEUES, 1_000, { startingUntil: Date.now() - 1 });
    expect(late).toMatchObject({ status: 'unhealthy', error: 'no worker running' });
    expect(late.starting).toBeUndefined();

    // A queue nobody consumes is degraded as always, grace or not: only "no worker at all" waits.
    const heartbeat = createWorkerHeartbeat({
      redis,
      queuePrefix: QUEUE_PREFIX,
      queues: ['backups'],
      workerId: 'host-a:2',
    });
    heartbeat.start();
    try {
      await waitUntil(async () => (await activeWorkers(['backups'])) === 1);
      const partly = await probeWorkers(redis, QUEUE_PREFIX, QUEUES, 1_000, {
        startingUntil: Date.now() + 20_000,
      });
      expect(partly).toMatchObject({ status: 'degraded', active_workers: 1 });
      expect(partly.starting).toBeUndefined();
    } finally {
      await heartbeat.stop();
    }
  });

  it('counts distinct workers and flags a queue nobody consumes', async () => {
    const a = createWorkerHeartbeat({
      redis,
      queuePrefix: QUEUE_PREFIX,
      queues: ['backups'],
      workerId: 'host-a:1',
    });
    const b = createWorkerHeartbeat({
      redis,
      queuePrefix: QUEUE_PREFIX,
      queues: ['backups'],
      workerId: 'host-b:7',
    });
    a.start();
    b.start();
    try {
      await waitUntil(
        async () => (await listLiveWorkers(redis, QUEUE_PREFIX, ['backups'])).backups?.length === 2,
      );
      const probe = await probeWorkers(redis, QUEUE_PREFIX, QUEUES, 1_000);
      expect(probe).toMatchObject({
        status: 'degraded',
        active_workers: 2,
        queues: { backups: 2, restores: 0 },
      });
      expect(probe.error).toContain('restores');
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it('lets the heartbeat of a crashed worker expire after three intervals', async () => {
    // Its own connection, cut without stop(): what a killed process leaves behind.
    const own = new Redis({ host: '127.0.0.1', port: 6379 });
    own.on('error', () => {});
    const heartbeat = createWorkerHeartbeat({
      redis: own,
      queuePrefix: QUEUE_PREFIX,
      queues: QUEUES,
      workerId: 'host-c:99',
      intervalMs: 200,
    });
    heartbeat.start();
    await waitUntil(async () => (await activeWorkers()) === 1);
    own.disconnect();
    const crashedAt = Date.now();
    // Still counted right after the crash: the TTL (3 x 200 ms) has not passed.
    expect(await activeWorkers()).toBe(1);
    await waitUntil(async () => (await activeWorkers()) === 0, 2_000);
    expect(Date.now() - crashedAt).toBeGreaterThanOrEqual(300);
    // stop() does not hang on a dead connection; the stale entry is still stored but no longer counted,
    // which is what the expiry score (not a deletion) is for.
    await heartbeat.stop();
    expect(await redis.zscore(heartbeatKey(QUEUE_PREFIX, 'backups'), 'host-c:99')).not.toBeNull();
  });
});
