import type { Logger } from '@warden/logging';
import { withRedisTimeout } from '@warden/notify';
import type { RedisConnection } from '@warden/queue';

/**
 * Counts one event in a fixed window: the first event of a window starts its expiry. Returns the
 * count so far and the milliseconds until the window ends.
 */
const HIT_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
`;

/** Past this many in-process counters (Redis away for long, many clients), expired ones are dropped. */
const LOCAL_SWEEP_THRESHOLD = 10_000;

export interface RateLimiterOptions {
  /**
   * Where the counters live, so that every API process shares them. While it does not answer, each
   * process counts on its own (a limit then applies per process, never not at all).
   */
  redis: RedisConnection | undefined;
  /** Namespace of the counter keys, e.g. `warden:rate-limit`. */
  keyPrefix: string;
  /** @defaultValue 60000 */
  windowMs?: number;
  /** Bound on each Redis round trip, so a stalled Redis cannot hold requests. @defaultValue 2000 */
  redisTimeoutMs?: number;
  logger: Logger;
}

export interface RateLimitVerdict {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Milliseconds until the window ends and the count starts again. */
  resetMs: number;
}

export interface RateLimiter {
  /** Counts one event against `bucket` for `client` and says whether it is within `limit`. */
  hit(bucket: string, client: string, limit: number): Promise<RateLimitVerdict>;
}

/** Fixed-window counters in Redis (one key per bucket and client, expiring with its window). */
export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const windowMs = options.windowMs ?? 60_000;
  const redisTimeoutMs = options.redisTimeoutMs ?? 2_000;
  const local = new Map<string, { count: number; resetAt: number }>();
  let redisFailing = false;

  const hitLocally = (key: string): [number, number] => {
    const now = Date.now();
    if (local.size > LOCAL_SWEEP_THRESHOLD) {
      for (const [entryKey, entry] of local) if (entry.resetAt <= now) local.delete(entryKey);
    }
    let entry = local.get(key);
    if (entry === undefined || entry.resetAt <= now) {
      entry = { count: 0, resetAt: now + windowMs };
      local.set(key, entry);
    }
    entry.count += 1;
    return [entry.count, entry.resetAt - now];
  };

  const hitInRedis = async (key: string): Promise<[number, number]> => {
    if (options.redis === undefined) return hitLocally(key);
    try {
      const [count, ttl] = (await withRedisTimeout(
        options.redis.eval(HIT_SCRIPT, 1, key, String(windowMs)),
        redisTimeoutMs,
      )) as [number, number];
      if (redisFailing) options.logger.info('rate-limit counters are shared through Redis again');
      redisFailing = false;
      return [Number(count), Number(ttl)];
    } catch (error) {
      if (!redisFailing) {
        options.logger.warn(
          { err: error },
          'rate-limit counters unavailable in Redis; counting in this process',
        );
      }
      redisFailing = true;
      return hitLocally(key);
    }
  };

  return {
    async hit(bucket, client, limit) {
      const [count, resetMs] = await hitInRedis(`${options.keyPrefix}:${bucket}:${client}`);
      return { allowed: count <= limit, limit, remaining: Math.max(0, limit - count), resetMs };
    },
  };
}
