import type { Cluster, Redis } from 'ioredis';
import { type HealthReport, worstStatus } from './types.js';
import { withTimeout } from './with-timeout.js';

/** Options of {@link createLatestHealth}. */
export interface LatestHealthOptions {
  /** The API's fail-fast client, shared with the other replicas. Not closed here. */
  redis: Redis | Cluster;
  /** Where the latest report lives, e.g. `warden:probes:latest`. */
  key: string;
  /** `PROBE_INTERVAL_SECONDS` in ms. */
  intervalMs: number;
  /** Probes once when no cycle has reported yet (a fresh start); concurrent callers share it. */
  probeNow: () => Promise<HealthReport>;
  /** Results older than this many intervals make the answer degraded. @defaultValue 3 */
  staleAfterIntervals?: number;
  /** Bound on the Redis read of a request. @defaultValue 1000 */
  redisTimeoutMs?: number;
}

export interface LatestHealth {
  /** Keeps a finished cycle's report, here and in Redis for the other API replicas. Never throws. */
  record(report: HealthReport): Promise<void>;
  /**
   * The `GET /health/detailed` body from the latest cycle, opening no connection to any database:
   * a request costs one Redis read however many targets there are. "degraded" (with a `probes`
   * service saying why) when the latest results are older than the stale bound.
   */
  detailed(): Promise<HealthReport>;
}

const parseReport = (raw: string | null): HealthReport | undefined => {
  if (!raw) return undefined;
  try {
    const value = JSON.parse(raw) as Partial<HealthReport>;
    return typeof value.timestamp === 'number' && value.services && typeof value.status === 'string'
      ? (value as HealthReport)
      : undefined;
  } catch {
    return undefined;
  }
};

export function createLatestHealth(options: LatestHealthOptions): LatestHealth {
  const staleAfterMs = options.intervalMs * (options.staleAfterIntervals ?? 3);
  const redisTimeoutMs = options.redisTimeoutMs ?? 1_000;
  let local: HealthReport | undefined;
  let probing: Promise<HealthReport> | undefined;

  /** The newest report, and whether Redis answered the read just now. */
  const newest = async (): Promise<{ report: HealthReport | undefined; redisAnswered: boolean }> => {
    let shared: HealthReport | undefined;
    try {
      shared = parseReport(await withTimeout(options.redis.get(options.key), redisTimeoutMs, 'redis'));
    } catch {
      // Redis is away: this replica's own fallback cycles keep `local` fresh meanwhile.
      return { report: local, redisAnswered: false };
    }
    if (!shared || !local) return { report: shared ?? local, redisAnswered: true };
    return { report: shared.timestamp > local.timestamp ? shared : local, redisAnswered: true };
  };

  return {
    async record(report) {
      local = report;
      try {
        await withTimeout(
          options.redis.set(options.key, JSON.stringify(report), 'PX', staleAfterMs * 10),
          redisTimeoutMs,
          'redis',
        );
      } catch {
        // Kept locally; the next cycle tries again.
      }
    },
    async detailed() {
      const { report: latest, redisAnswered } = await newest();
      let report = latest;
      if (!report) {
        probing ??= options.probeNow().finally(() => {
          probing = undefined;
        });
        report = await probing;
        local ??= report;
      }
      // The read above is itself a Redis check that costs nothing extra: a Redis that did not answer
      // it is down now, whatever the last cycle saw, so the answer says so at once.
      if (!redisAnswered) {
        const redis = {
          status: 'unhealthy' as const,
          error: `redis did not answer within ${redisTimeoutMs} ms`,
          checked_at: new Date().toISOString(),
        };
        report = { ...report, status: 'unhealthy', services: { ...report.services, redis } };
      }
      const ageMs = Date.now() - report.timestamp * 1000;
      if (ageMs <= staleAfterMs) return report;
      const probes = {
        status: 'degraded' as const,
        error: `the latest probe results are ${Math.round(ageMs / 1000)} s old (probes run every ${Math.round(options.intervalMs / 1000)} s)`,
        checked_at: new Date(report.timestamp * 1000).toISOString(),
      };
      return {
        ...report,
        status: worstStatus([report.status, probes.status]),
        services: { ...report.services, probes },
      };
    },
  };
}
