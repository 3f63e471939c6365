import { CronExpressionParser } from 'cron-parser';
import type { Cluster, Redis } from 'ioredis';

/** What a finished schedule window reports in its one message. */
export interface DigestSummary {
  /** ISO time of the scheduled run the window belongs to. */
  window: string;
  succeeded: number;
  totalBytes: number;
  slowest?: { target: string; durationMs: number } | undefined;
  /** Targets whose backup of this window failed. */
  failed: string[];
  expected: number;
}

export interface SuccessDigest {
  /**
   * Counts one finished scheduled backup into its window; resolves the summary exactly once, to the
   * process that counts the window's last target, and undefined otherwise.
   */
  record(entry: {
    target: string;
    startedAt: string;
    ok: boolean;
    bytes?: number;
    durationMs?: number;
  }): Promise<DigestSummary | undefined>;
}

/**
 * Adds one result to the window's hash and, when every expected target has reported, returns the
 * whole hash and deletes it. KEYS[1]: the window's hash. ARGV: target, ok (1/0), bytes, duration,
 * expected, ttl seconds.
 */
const RECORD_SCRIPT = `
if redis.call('HSETNX', KEYS[1], 't:' .. ARGV[1], ARGV[2]) == 0 then return nil end
redis.call('HINCRBY', KEYS[1], 'done', 1)
if ARGV[2] == '1' then
  redis.call('HINCRBY', KEYS[1], 'ok', 1)
  redis.call('HINCRBY', KEYS[1], 'bytes', ARGV[3])
  local slowest = tonumber(redis.call('HGET', KEYS[1], 'slowest_ms') or '-1')
  if tonumber(ARGV[4]) > slowest then
    redis.call('HSET', KEYS[1], 'slowest_ms', ARGV[4], 'slowest', ARGV[1])
  end
else
  redis.call('HSET', KEYS[1], 'f:' .. ARGV[1], '1')
end
redis.call('EXPIRE', KEYS[1], ARGV[6])
if tonumber(redis.call('HGET', KEYS[1], 'done')) >= tonumber(ARGV[5]) then
  local all = redis.call('HGETALL', KEYS[1])
  redis.call('DEL', KEYS[1])
  return all
end
return nil
`;

/**
 * `SLACK_SUCCESS_MODE=digest`: scheduled backups that share a cron (and time zone) form one window
 * per scheduled run; the window's summary goes out once all of its targets have finished (one
 * message for a fleet instead of one per backup). Shared through Redis by every worker. A window
 * whose last target never reports (its worker died for good) expires after two days unsent; the
 * failures in it were already sent on their own.
 */
export function createSuccessDigest(options: {
  redis: Redis | Cluster;
  keyPrefix: string;
  targets: readonly { name: string; schedule: string; timezone: string; enabled: boolean }[];
}): SuccessDigest {
  const scheduleOf = new Map(options.targets.map((target) => [target.name, target]));
  const expectedPer = new Map<string, number>();
  for (const target of options.targets) {
    if (!target.enabled) continue;
    const group = `${target.schedule}|${target.timezone}`;
    expectedPer.set(group, (expectedPer.get(group) ?? 0) + 1);
  }

  return {
    async record(entry) {
      const target = scheduleOf.get(entry.target);
      const started = Date.parse(entry.startedAt);
      if (!target || Number.isNaN(started)) return undefined;
      let window: number;
      try {
        window = CronExpressionParser.parse(target.schedule, {
          currentDate: new Date(started + 1),
          tz: target.timezone,
        })
          .prev()
          .getTime();
      } catch {
        return undefined;
      }
      const group = `${target.schedule}|${target.timezone}`;
      const expected = expectedPer.get(group) ?? 1;
      const key = `${options.keyPrefix}:digest:${Buffer.from(group).toString('base64url')}:${window}`;
      const reply = (await options.redis.eval(
        RECORD_SCRIPT,
        1,
        key,
        entry.target,
        entry.ok ? '1' : '0',
        String(Math.round(entry.bytes ?? 0)),
        String(Math.round(entry.durationMs ?? 0)),
        String(expected),
        String(2 * 24 * 3600),
      )) as string[] | null;
      if (!reply) return undefined;
      const fields = new Map<string, string>();
      for (let index = 0; index + 1 < reply.length; index += 2) {
        fields.set(reply[index] as string, reply[index + 1] as string);
      }
      const slowest = fields.get('slowest');
      return {
        window: new Date(window).toISOString(),
        succeeded: Number(fields.get('ok') ?? 0),
        totalBytes: Number(fields.get('bytes') ?? 0),
        slowest: slowest ? { target: slowest, durationMs: Number(fields.get('slowest_ms') ?? 0) } : undefined,
        failed: [...fields.keys()].filter((field) => field.startsWith('f:')).map((field) => field.slice(2)),
        expected,
      };
    },
  };
}
