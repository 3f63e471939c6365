import { createHash, randomUUID } from 'node:crypto';
import { CronExpressionParser } from 'cron-parser';
import type { Cluster, Redis } from 'ioredis';
import { retryRedis } from './target-lock.js';

/**
 * A target's fixed place in the `BACKUP_SCHEDULE_SPREAD` window, derived from its name: the same
 * on every worker and after every restart, and spread evenly enough over a large fleet.
 */
export function spreadOffsetMs(target: string, spreadMs: number): number {
  if (spreadMs <= 0) return 0;
  const hash = createHash('sha256').update(target).digest().readUInt32BE(0);
  return hash % spreadMs;
}

/**
 * When a scheduled backup of `target` should really start: the latest scheduled run at or before
 * `now`, plus the target's offset. The scheduler delivers every target of one cron at the same
 * moment; the job waits (as a delayed job, not holding a slot) until its own time. A spread longer
 * than the schedule's interval is capped at that interval.
 */
export function spreadStartAt(
  schedule: { pattern: string; timezone: string },
  target: string,
  spreadMs: number,
  now: number,
): number | undefined {
  if (spreadMs <= 0) return undefined;
  try {
    const expression = CronExpressionParser.parse(schedule.pattern, {
      currentDate: new Date(now + 1),
      tz: schedule.timezone,
    });
    const previous = expression.prev().getTime();
    const before = expression.prev().getTime();
    const window = Math.min(spreadMs, previous - before);
    return previous + spreadOffsetMs(target, window);
  } catch {
    return undefined;
  }
}

/** One held slot of {@link ServerSlots}; renewed while held, expiring on its own if its holder dies. */
export interface ServerSlot {
  release(): Promise<void>;
}

export interface ServerSlots {
  /** A slot on `server`, or undefined when `limit` dumps already run against it. */
  acquire(server: string): Promise<ServerSlot | undefined>;
}

/**
 * Drops expired holders, then takes a slot when fewer than ARGV[3] are held. KEYS[1]: the server's
 * sorted set of holders scored by expiry. ARGV: now, expiry, limit, holder.
 */
const ACQUIRE_SLOT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) - tonumber(ARGV[1]))
  return 1
end
return 0
`;

/**
 * A cap on dumps running at once against one database server, across every worker process
 * (`BACKUP_SERVER_CONCURRENCY`): a fleet of databases on one server must not get every worker slot
 * at once, and the cap bounds the connections backups hold there. Holders are members of a sorted
 * set scored by expiry, renewed while held, so a killed worker's slot frees itself after `ttlMs`.
 */
export function createServerSlots(options: {
  redis: Redis | Cluster;
  /** Key prefix, e.g. `warden:server-slots`. */
  keyPrefix: string;
  limit: number;
  ttlMs: number;
  onRenewError?: (error: unknown) => void;
}): ServerSlots {
  return {
    async acquire(server) {
      const key = `${options.keyPrefix}:${server}`;
      const holder = randomUUID();
      const now = Date.now();
      const taken = await options.redis.eval(
        ACQUIRE_SLOT,
        1,
        key,
        String(now),
        String(now + options.ttlMs),
        String(options.limit),
        holder,
      );
      if (Number(taken) !== 1) return undefined;
      const renew = setInterval(
        () => {
          options.redis
            .zadd(key, 'XX', Date.now() + options.ttlMs, holder)
            .then(() => options.redis.pexpire(key, options.ttlMs))
            .catch((error: unknown) => options.onRenewError?.(error));
        },
        Math.max(1_000, Math.floor(options.ttlMs / 3)),
      );
      renew.unref();
      return {
        async release() {
          clearInterval(renew);
          await retryRedis(() => options.redis.zrem(key, holder));
        },
      };
    },
  };
}
