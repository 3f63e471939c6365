/**
 * Once per `vitest run`: gives the run an id (inherited by every test process through the
 * environment) and, when the run ends, deletes the Redis keys still left under the run's prefix on
 * the shared Redis — alert history lists, throttle keys, queues of processes a test killed.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

export default function setup(): () => Promise<void> {
  process.env.WARDEN_TEST_RUN ??= randomBytes(3).toString('hex');
  const pattern = `warden-test-${process.env.WARDEN_TEST_RUN}-*`;
  return async () => {
    const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, maxRetriesPerRequest: 1 });
    redis.on('error', () => undefined);
    try {
      await redis.connect();
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await redis.unlink(...keys);
      } while (cursor !== '0');
    } catch {
      // No Redis at the end of the run: nothing can be left on it either.
    } finally {
      redis.disconnect();
    }
  };
}
