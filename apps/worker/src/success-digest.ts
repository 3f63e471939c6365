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
  /** Targets that had not reported when the window was closed at its deadline. */
  missing: string[];
  expected: number;
}

/** What {@link SuccessDigest.record} found for one result. */
export type DigestRecord =
  /** The window is complete: send this summary (exactly one process gets it). */
  | { summary: DigestSummary }
  /** Counted into a window that is still open. */
  | { counted: true }
  /** The window was already closed at its deadline without this result: report it on its own. */
  | { late: true }
  /** Not a scheduled window this digest knows (unknown target or schedule). */
  | { skipped: true };

export interface SuccessDigest {
  /** Counts one finished scheduled backup into its window. */
  record(entry: {
    target: string;
    startedAt: string;
    ok: boolean;
    bytes?: number;
    durationMs?: number;
  }): Promise<DigestRecord>;
  /**
   * Closes the windows whose deadline (their schedule's next run) has passed without every target
   * reporting, and returns their summaries, each to exactly one caller across all workers.
   */
  closeOverdue(now?: number): Promise<DigestSummary[]>;
}

/**
 * Adds one result to the window's hash and, when every expected target has reported, returns the
 * whole hash and marks the window closed. A closed window takes no more results (reply `late`).
 * KEYS[1]: the window's hash. ARGV: target, ok (1/0), bytes, duration, expected, ttl seconds.
 */
const RECORD_SCRIPT = `
if redis.call('HEXISTS', KEYS[1], 'closed') == 1 then return 'late' end
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
  redis.call('HSET', KEYS[1], 'closed', '1')
  redis.call('EXPIRE', KEYS[1], ARGV[6])
  return all
end
return nil
`;

/**
 * Closes an open window: returns its hash once (nil if already closed or gone) and leaves a
 * `closed` marker so that a result arriving later is reported on its own. KEYS[1]: the window's
 * hash. ARGV: ttl seconds.
 */
const CLOSE_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'closed') == 1 then return nil end
local all = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'closed', '1')
redis.call('EXPIRE', KEYS[1], ARGV[1])
return all
`;

const WINDOW_TTL_SECONDS = 2 * 24 * 3600;

/**
 * `SLACK_SUCCESS_MODE=digest`: scheduled backups that share a cron (and time zone) form one window
 * per scheduled run; the window's summary goes out once all of its targets have finished (one
 * message for a fleet instead of one per backup). Shared through Redis by every worker. A window
 * that is still incomplete when its schedule's next run comes (a worker died for good, a target
 * was removed) is closed then by whichever worker sweeps first, and its summary names the targets
 * that never reported; a result that arrives after that is reported on its own. Failures were
 * always sent at once as well.
 */
export function createSuccessDigest(options: {
  redis: Redis | Cluster;
  keyPrefix: string;
  targets: readonly { name: string; schedule: string; timezone: string; enabled: boolean }[];
}): SuccessDigest {
  const scheduleOf = new Map(options.targets.map((target) => [target.name, target]));
  const targetsPer = new Map<string, string[]>();
  for (const target of options.targets) {
    if (!target.enabled) continue;
    const group = `${target.schedule}|${target.timezone}`;
    targetsPer.set(group, [...(targetsPer.get(group) ?? []), target.name]);
  }
  // Sorted by deadline; members are window keys. A separate key from the windows' hashes, so each
  // script touches one key (Redis Cluster puts them in different slots).
  const openKey = `${options.keyPrefix}:digest-open`;
  const windowKeyPrefix = `${options.keyPrefix}:digest:`;

  const summaryOf = (group: string, window: number, reply: string[]): DigestSummary => {
    const fields = new Map<string, string>();
    for (let index = 0; index + 1 < reply.length; index += 2) {
      fields.set(reply[index] as string, reply[index + 1] as string);
    }
    const slowest = fields.get('slowest');
    const expectedTargets = targetsPer.get(group) ?? [];
    return {
      window: new Date(window).toISOString(),
      succeeded: Number(fields.get('ok') ?? 0),
      totalBytes: Number(fields.get('bytes') ?? 0),
      slowest: slowest ? { target: slowest, durationMs: Number(fields.get('slowest_ms') ?? 0) } : undefined,
      failed: [...fields.keys()].filter((field) => field.startsWith('f:')).map((field) => field.slice(2)),
      missing: expectedTargets.filter((name) => !fields.has(`t:${name}`)),
      expected: Math.max(expectedTargets.length, Number(fields.get('done') ?? 0)),
    };
  };

  const windowKey = (group: string, window: number) =>
    `${windowKeyPrefix}${Buffer.from(group).toString('base64url')}:${window}`;
  const parseWindowKey = (key: string): { group: string; window: number } | undefined => {
    const [encoded, window] = key.slice(windowKeyPrefix.length).split(':');
    if (!encoded || !window || !key.startsWith(windowKeyPrefix)) return undefined;
    return { group: Buffer.from(encoded, 'base64url').toString(), window: Number(window) };
  };

  return {
    async record(entry) {
      const target = scheduleOf.get(entry.target);
      const started = Date.parse(entry.startedAt);
      if (!target || Number.isNaN(started)) return { skipped: true };
      let window: number;
      let deadline: number;
      try {
        const cron = CronExpressionParser.parse(target.schedule, {
          currentDate: new Date(started + 1),
          tz: target.timezone,
        });
        window = cron.prev().getTime();
        deadline = CronExpressionParser.parse(target.schedule, {
          currentDate: new Date(window),
          tz: target.timezone,
        })
          .next()
          .getTime();
      } catch {
        return { skipped: true };
      }
      const group = `${target.schedule}|${target.timezone}`;
      const expected = targetsPer.get(group)?.length ?? 1;
      const key = windowKey(group, window);
      const reply = (await options.redis.eval(
        RECORD_SCRIPT,
        1,
        key,
        entry.target,
        entry.ok ? '1' : '0',
        String(Math.round(entry.bytes ?? 0)),
        String(Math.round(entry.durationMs ?? 0)),
        String(expected),
        String(WINDOW_TTL_SECONDS),
      )) as string[] | 'late' | null;
      if (reply === 'late') return { late: true };
      if (!reply) {
        // NX: the first result of a window registers its deadline; completing it removes it.
        await options.redis.zadd(openKey, 'NX', deadline, key);
        return { counted: true };
      }
      await options.redis.zrem(openKey, key);
      return { summary: summaryOf(group, window, reply) };
    },

    async closeOverdue(now = Date.now()) {
      const due = await options.redis.zrangebyscore(openKey, '-inf', now, 'LIMIT', 0, 100);
      const summaries: DigestSummary[] = [];
      for (const key of due) {
        // Whoever removes the entry closes the window; the others move on.
        if ((await options.redis.zrem(openKey, key)) !== 1) continue;
        const parsed = parseWindowKey(key);
        const reply = (await options.redis.eval(CLOSE_SCRIPT, 1, key, String(WINDOW_TTL_SECONDS))) as
          | string[]
          | null;
        if (parsed && reply) summaries.push(summaryOf(parsed.group, parsed.window, reply));
      }
      // Entries older than the windows' own lifetime belong to hashes that expired.
      await options.redis.zremrangebyscore(openKey, '-inf', now - WINDOW_TTL_SECONDS * 1000);
      return summaries;
    },
  };
}
