import { describeError } from '@warden/errors';
import type { Cluster, Redis } from 'ioredis';
import { withRedisTimeout, withSeparator } from './redis-timeout.js';
import type { Alert, Notifier, NotifyLogger } from './types.js';

/** Raises an alert while a condition is active and says "resolved" once when it clears. */
export interface ConditionTracker {
  /**
   * Reports the current state of a condition (e.g. `health:redis`). While active, `alert` is sent
   * through the notifier on every report, so the notifier's throttle turns a long outage into one
   * reminder per window with a suppressed count. On the first report after it clears, one
   * success-level "resolved" message goes out; which process sends it is decided atomically in Redis.
   * For an inactive report only `alert.fields` (the current values) are used, in the resolved message.
   */
  report(key: string, active: boolean, alert: Alert): Promise<void>;
}

/** Options of {@link createConditionTracker}. */
export interface ConditionTrackerOptions {
  notifier: Notifier;
  /** Shared by all processes, so that a condition raised by one can be resolved by another. Not closed here. */
  redis: Redis | Cluster;
  /** Namespace of the state keys, e.g. `warden:alerts` (a `:` is appended when missing). */
  keyPrefix: string;
  /** How long an active condition's state survives without being reported again. @defaultValue 7 days */
  stateTtlSeconds?: number;
  /** Bound on each Redis round trip. @defaultValue 2000 */
  redisTimeoutMs?: number;
  logger?: NotifyLogger;
}

interface ConditionState {
  alertKey: string;
  title: string;
  /** Epoch ms of first activation. */
  since: number;
}

function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${seconds % 60}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ${minutes % 60}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

function parseState(raw: string | null): ConditionState | undefined {
  if (!raw) return undefined;
  try {
    const value = JSON.parse(raw) as Partial<ConditionState>;
    if (
      typeof value.alertKey === 'string' &&
      typeof value.title === 'string' &&
      typeof value.since === 'number'
    ) {
      return value as ConditionState;
    }
  } catch {
    // A corrupt state is treated like a condition raised now.
  }
  return undefined;
}

export function createConditionTracker(options: ConditionTrackerOptions): ConditionTracker {
  const { notifier, redis, logger } = options;
  const keyPrefix = withSeparator(options.keyPrefix);
  const ttl = options.stateTtlSeconds ?? 7 * 24 * 3600;
  const timeoutMs = options.redisTimeoutMs ?? 2_000;
  const stateKey = (key: string) => `${keyPrefix}condition:${key}`;
  /**
   * Conditions this process raised, used only while Redis is unreachable: the "Redis connection
   * failed" alert and its "resolved" must work without Redis. `inRedis` tells whether the state also
   * made it to Redis; one that did not (raised during the outage) is resolved from here, because
   * Redis, restarted or failed over, may not know it.
   */
  const local = new Map<string, ConditionState & { inRedis: boolean }>();
  const onRedisError = (error: unknown) =>
    logger?.warn({ error: describeError(error, (text) => text) }, 'condition tracker: redis unavailable');

  const activate = async (key: string, alert: Alert) => {
    const redisKey = stateKey(key);
    const known = local.get(key);
    const state: ConditionState = {
      alertKey: alert.key,
      title: alert.title,
      since: known?.since ?? Date.now(),
    };
    // Until Redis confirms, assume it does not hold the state (it may have restarted empty); a
    // duplicate "resolved" is throttled like any alert, a missing one would never come.
    local.set(key, { ...state, inRedis: false });
    try {
      const created = await withRedisTimeout(
        redis.set(redisKey, JSON.stringify(state), 'EX', ttl, 'NX'),
        timeoutMs,
      );
      if (created !== 'OK') {
        const previous = parseState(await withRedisTimeout(redis.get(redisKey), timeoutMs));
        // A change of alert key (e.g. disk warning -> critical) replaces the state but keeps `since`.
        const next = previous ? { ...previous, alertKey: alert.key, title: alert.title } : state;
        local.set(key, { ...next, inRedis: false });
        await withRedisTimeout(redis.set(redisKey, JSON.stringify(next), 'EX', ttl), timeoutMs);
      }
      const stored = local.get(key);
      if (stored) stored.inRedis = true;
    } catch (error) {
      onRedisError(error);
    }
  };

  const clear = async (key: string): Promise<ConditionState | undefined> => {
    const known = local.get(key);
    local.delete(key);
    try {
      // GETDEL lets exactly one process observe the transition and send the single "resolved".
      const shared = parseState(await withRedisTimeout(redis.getdel(stateKey(key)), timeoutMs));
      // Raised only here while Redis was away: no other process knows it, so this one resolves it.
      return shared ?? (known && !known.inRedis ? known : undefined);
    } catch (error) {
      onRedisError(error);
      return known;
    }
  };

  return {
    async report(key, active, alert) {
      if (active) {
        await activate(key, alert);
        await notifier.notify(alert);
        return;
      }
      const previous = await clear(key);
      if (!previous) return;
      const duration = formatDuration(Date.now() - previous.since);
      await notifier.notify({
        key: `${previous.alertKey}:resolved`,
        level: 'success',
        title: `Resolved: ${previous.title}`,
        text: `The condition cleared after ${duration}.`,
        fields: { ...alert.fields, 'Active for': duration },
      });
    },
  };
}
