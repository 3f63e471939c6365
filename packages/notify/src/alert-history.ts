import { createSecretScrubber } from '@warden/errors';
import type { Cluster, Redis } from 'ioredis';
import { withRedisTimeout, withSeparator } from './redis-timeout.js';
import type { Alert, AlertLevel, Notifier, NotifyOutcome } from './types.js';

/** One alert as the console lists it: what was said and what became of it. */
export interface AlertRecord {
  /** ISO time the alert was handled. */
  at: string;
  key: string;
  level: AlertLevel;
  title: string;
  text?: string;
  /** `sent` to Slack, only `logged` (no webhook), or delivery `failed`. */
  outcome: Extract<NotifyOutcome, 'sent' | 'logged' | 'failed'>;
}

/** Options of {@link createAlertHistory}. */
export interface AlertHistoryOptions {
  /** Shared by every process, so the API lists what the workers sent. Injected: never closed here. */
  redis: Redis | Cluster;
  /** Namespace in Redis, e.g. `warden:alerts` (the list is `<prefix>:recent`). */
  keyPrefix: string;
  /** How many alerts are kept. @defaultValue 200 */
  maxEntries?: number;
  /** Bound on each Redis round trip. @defaultValue 2000 */
  redisTimeoutMs?: number;
}

/** The recent alerts of every process, newest first, in one capped Redis list (kept 30 days after the newest). */
export interface AlertHistory {
  /** Never throws: losing a history entry must not lose the alert. */
  record(entry: AlertRecord): Promise<void>;
  recent(limit: number): Promise<AlertRecord[]>;
}

const TEXT_LIMIT = 500;
/** The list expires this long after its newest alert. */
const HISTORY_TTL_SECONDS = 30 * 24 * 3600;

function parseRecord(raw: string): AlertRecord | undefined {
  try {
    const value = JSON.parse(raw) as Partial<AlertRecord>;
    if (typeof value.at !== 'string' || typeof value.title !== 'string' || typeof value.key !== 'string') {
      return undefined;
    }
    return value as AlertRecord;
  } catch {
    return undefined;
  }
}

export function createAlertHistory(options: AlertHistoryOptions): AlertHistory {
  const key = `${withSeparator(options.keyPrefix)}recent`;
  const maxEntries = Math.max(1, options.maxEntries ?? 200);
  const timeoutMs = options.redisTimeoutMs ?? 2_000;
  return {
    async record(entry) {
      const stored: AlertRecord = {
        ...entry,
        ...(entry.text === undefined ? {} : { text: entry.text.slice(0, TEXT_LIMIT) }),
      };
      try {
        await withRedisTimeout(
          options.redis
            .multi()
            .lpush(key, JSON.stringify(stored))
            .ltrim(key, 0, maxEntries - 1)
            // An installation that went quiet (or was removed) does not keep its history forever.
            .expire(key, HISTORY_TTL_SECONDS)
            .exec(),
          timeoutMs,
        );
      } catch {
        // Redis away: the alert itself still went out (or was logged); only its history entry is lost.
      }
    },
    async recent(limit) {
      const raw = await withRedisTimeout(
        options.redis.lrange(key, 0, Math.max(0, Math.min(limit, maxEntries) - 1)),
        timeoutMs,
      );
      return raw.map(parseRecord).filter((record): record is AlertRecord => record !== undefined);
    },
  };
}

/**
 * Wraps a notifier so that every alert it handles (sent, logged or failed; not the throttled
 * ones) is added to the history, scrubbed of the given secrets like the message itself.
 */
export function withAlertHistory(
  inner: Notifier,
  history: AlertHistory,
  options: { secrets?: readonly (string | undefined)[] } = {},
): Notifier {
  const scrub = createSecretScrubber(options.secrets ?? []);
  return {
    async notify(alert: Alert): Promise<NotifyOutcome> {
      const outcome = await inner.notify(alert);
      if (outcome === 'sent' || outcome === 'logged' || outcome === 'failed') {
        await history.record({
          at: new Date().toISOString(),
          key: scrub(alert.key),
          level: alert.level,
          title: scrub(alert.title),
          ...(alert.text === undefined ? {} : { text: scrub(alert.text) }),
          outcome,
        });
      }
      return outcome;
    },
    close: () => inner.close(),
  };
}
