import { createRedisConnection, QUEUE_NAMES, type RedisConnection } from '@warden/queue';
import { Queue } from 'bullmq';

/** The shared Redis every integration and fault test uses (never stopped by a test). */
export const TEST_REDIS_URL = 'redis://127.0.0.1:6379';

export interface TestQueue {
  /** A waiting (`role: 'worker'`) client on the shared Redis. */
  redis: RedisConnection;
  queue: Queue;
  /** Obliterates the queue, deletes every key under the prefix, then closes both clients. */
  close(): Promise<void>;
}

export interface TestQueueOptions {
  /** The test file's own queue prefix. */
  prefix: string;
  /** @defaultValue the backups queue */
  name?: string;
}

/** Every key under `prefix` (SCAN, not KEYS, so a busy shared Redis is not blocked). */
export async function keysUnder(redis: RedisConnection, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await (redis as import('ioredis').Redis).scan(
      cursor,
      'MATCH',
      `${prefix}:*`,
      'COUNT',
      500,
    );
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

/** Deletes every key under `prefix` (`prefix:*`). */
export async function deleteKeysUnder(redis: RedisConnection, prefix: string): Promise<void> {
  const keys = await keysUnder(redis, prefix);
  for (let start = 0; start < keys.length; start += 500) await redis.del(...keys.slice(start, start + 500));
}

/**
 * A queue under the test file's own prefix on the shared Redis. Client and queue errors are ignored:
 * the tests assert on jobs, and some of them stop the services these clients talk to.
 */
export function createTestQueue(options: TestQueueOptions): TestQueue {
  const redis = createRedisConnection({ url: TEST_REDIS_URL, role: 'worker' });
  redis.on('error', () => undefined);
  const queue = new Queue(options.name ?? QUEUE_NAMES.backups, { connection: redis, prefix: options.prefix });
  queue.on('error', () => undefined);
  return {
    redis,
    queue,
    async close() {
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
      await deleteKeysUnder(redis, options.prefix);
      await redis.quit();
    },
  };
}
