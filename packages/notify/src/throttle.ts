import type { Cluster, Redis } from 'ioredis';
import { withRedisTimeout, withSeparator } from './redis-timeout.js';

/**
 * Acquire the throttle window of one alert key, or count a suppression, in one atomic step so that
 * every process sharing the Redis agrees (docs/architecture.md#alerts). Both keys share a hash tag for Redis Cluster.
 * Returns the number of suppressed alerts to report (>= 0) when acquired, -1 when suppressed.
 */
const ACQUIRE_SCRIPT = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local suppressed = tonumber(redis.call('GET', KEYS[2]) or '0')
  redis.call('DEL', KEYS[2])
  return suppressed
end
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return -1
`;

/** Suppression counters outlive many windows so that a long-running condition is still counted. */
const SUPPRESSED_TTL_MS = 7 * 24 * 3600 * 1000;

export interface AlertThrottleOptions {
  redis: Redis | Cluster;
  /** Namespace of the throttle keys, e.g. `warden:alerts` (a `:` is appended when missing). */
  keyPrefix: string;
  /** 0 disables throttling. May be fractional (tests). */
  throttleSeconds: number;
  /** Bound on each Redis round trip. @defaultValue 2000 */
  redisTimeoutMs?: number;
  /** Told when Redis fails and the in-process fallback decides. */
  onRedisError?: (error: unknown) => void;
}

export type ThrottleDecision = { send: true; suppressed: number } | { send: false };

export interface AlertThrottle {
  /** Decides whether an alert with this key may go out now. Never throws. */
  acquire(key: string): Promise<ThrottleDecision>;
  /**
   * Gives the window back after a failed delivery, restoring the suppressed count, so that the alert
   * is not lost: the next occurrence will try again. Never throws.
   */
  release(key: string, suppressed: number): Promise<void>;
}

/**
 * Throttle shared through Redis. When Redis is unreachable (and "Redis connection failed" is exactly
 * the alert that must get out) it falls back to an in-process window per key, so alerts still go out
 * but are not repeated on every probe cycle.
 */
export function createAlertThrottle(options: AlertThrottleOptions): AlertThrottle {
  const { redis } = options;
  const keyPrefix = withSeparator(options.keyPrefix);
  const windowMs = Math.max(0, Math.round(options.throttleSeconds * 1000));
  const redisTimeoutMs = options.redisTimeoutMs ?? 2_000;
  const local = new Map<string, { until: number; suppressed: number }>();
  const keysOf = (key: string) => {
    // The hash tag keeps both keys in one Cluster slot (a tag already in the prefix takes precedence).
    const base = `${keyPrefix}throttle:{${key}}`;
    return { window: `${base}:window`, suppressed: `${base}:suppressed` };
  };

  const acquireLocally = (key: string): ThrottleDecision => {
    const now = Date.now();
    for (const [entryKey, entry] of local)
      if (entry.until <= now && entry.suppressed === 0) local.delete(entryKey);
    const entry = local.get(key);
    if (entry && entry.until > now) {
      entry.suppressed += 1;
      return { send: false };
    }
    local.set(key, { until: now + windowMs, suppressed: 0 });
    return { send: true, suppressed: entry?.suppressed ?? 0 };
  };

  return {
    async acquire(key) {
      if (windowMs === 0) return { send: true, suppressed: 0 };
      const keys = keysOf(key);
      try {
        const result = Number(
          await withRedisTimeout(
            redis.eval(
              ACQUIRE_SCRIPT,
              2,
              keys.window,
              keys.suppressed,
              String(Date.now()),
              String(windowMs),
              String(SUPPRESSED_TTL_MS),
            ),
            redisTimeoutMs,
          ),
        );
        return result < 0 ? { send: false } : { send: true, suppressed: result };
      } catch (error) {
        options.onRedisError?.(error);
        return acquireLocally(key);
      }
    },
    async release(key, suppressed) {
      if (windowMs === 0) return;
      const entry = local.get(key);
      if (entry && entry.until > Date.now()) {
        // This window was taken locally (Redis was away): give it back locally.
        entry.until = 0;
        entry.suppressed += suppressed;
        return;
      }
      const keys = keysOf(key);
      try {
        await withRedisTimeout(redis.del(keys.window), redisTimeoutMs);
        if (suppressed > 0) {
          await withRedisTimeout(redis.incrby(keys.suppressed, suppressed), redisTimeoutMs);
          await withRedisTimeout(redis.pexpire(keys.suppressed, SUPPRESSED_TTL_MS), redisTimeoutMs);
        }
      } catch (error) {
        options.onRedisError?.(error);
      }
    },
  };
}
