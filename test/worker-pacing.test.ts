/**
 * Throughput helpers against the real Redis: the per-server dump cap shared by every worker, and
 * the target lock that keeps a backup's file-name second without holding the worker slot.
 */
import { createRedisConnection } from '@warden/queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServerSlots } from '../apps/worker/src/backup-pacing.js';
import { createTargetLock, retryRedis } from '../apps/worker/src/target-lock.js';
import { uniquePrefix } from './helpers/api-fixtures.js';
import { deleteKeysUnder } from './helpers/queues.js';

const prefix = uniquePrefix('worker-pacing');
const redis = createRedisConnection({ url: 'redis://127.0.0.1:6379', role: 'worker' });
redis.on('error', () => undefined);

beforeAll(async () => {
  if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
});
afterAll(async () => {
  await deleteKeysUnder(redis, prefix);
  await redis.quit();
});

describe('database server slots', () => {
  it('lets at most the limit hold a server at once, across clients, and frees a slot on release', async () => {
    const other = createRedisConnection({ url: 'redis://127.0.0.1:6379', role: 'worker' });
    other.on('error', () => undefined);
    try {
      const options = { keyPrefix: `${prefix}:slots`, limit: 2, ttlMs: 5_000 };
      const workerA = createServerSlots({ redis, ...options });
      const workerB = createServerSlots({ redis: other, ...options });
      const first = await workerA.acquire('db.example:5432');
      const second = await workerB.acquire('db.example:5432');
      expect(first).toBeDefined();
      expect(second).toBeDefined();
      expect(await workerA.acquire('db.example:5432')).toBeUndefined();
      // Another server has its own slots.
      const elsewhere = await workerB.acquire('other.example:5432');
      expect(elsewhere).toBeDefined();
      await first?.release();
      const third = await workerB.acquire('db.example:5432');
      expect(third).toBeDefined();
      await Promise.all([second?.release(), third?.release(), elsewhere?.release()]);
    } finally {
      await other.quit();
    }
  });

  it('frees the slot of a holder that died, after its time to live', async () => {
    const slots = createServerSlots({ redis, keyPrefix: `${prefix}:dead`, limit: 1, ttlMs: 1_000 });
    // Acquired and never released or renewed: what a killed worker leaves.
    const key = `${prefix}:dead:db:5432`;
    await redis.zadd(key, Date.now() + 300, 'killed-worker');
    expect(await slots.acquire('db:5432')).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 400));
    const slot = await slots.acquire('db:5432');
    expect(slot).toBeDefined();
    await slot?.release();
  });
});

describe('target lock', () => {
  it('stays taken until the held second is over after release, then is free', async () => {
    const key = `${prefix}:lock:backup:main`;
    const first = createTargetLock({ redis, key, ttlMs: 10_000 });
    const second = createTargetLock({ redis, key, ttlMs: 10_000 });
    expect(await first.acquire()).toBe(true);
    expect(await second.acquire()).toBe(false);
    const holdUntil = Date.now() + 400;
    await first.release(holdUntil);
    // Released without waiting, yet the name's second still belongs to the finished backup.
    expect(await second.acquire()).toBe(false);
    const pttl = await redis.pttl(key);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(400);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await second.acquire()).toBe(true);
    await second.release();
    expect(await redis.exists(key)).toBe(0);
  });
});

describe('retryRedis', () => {
  it('tries a failing command again until it succeeds, and gives up after the last attempt', async () => {
    let calls = 0;
    const flaky = async () => {
      calls += 1;
      if (calls < 3) throw new Error('CLUSTERDOWN The cluster is down');
      return 'OK';
    };
    expect(await retryRedis(flaky, 5, 10)).toBe('OK');
    expect(calls).toBe(3);
    await expect(retryRedis(async () => Promise.reject(new Error('still down')), 2, 10)).rejects.toThrow(
      'still down',
    );
  });
});
