import type { Cluster, Redis } from 'ioredis';

/**
 * Remembers in Redis (one hash, shared by every API replica) when Warden first probed each target,
 * so a target added today is not reported overdue for last night's run it was never asked to make.
 * Targets no longer configured are forgotten, so one added back later starts afresh.
 */
export function createWatchedSinceRecord(redis: Redis | Cluster, key: string) {
  return async (targets: readonly string[]): Promise<Map<string, Date>> => {
    const known = await redis.hgetall(key);
    const now = Date.now();
    const missing = targets.filter((target) => known[target] === undefined);
    const stale = Object.keys(known).filter((target) => !targets.includes(target));
    if (missing.length > 0 || stale.length > 0) {
      const batch = redis.multi();
      // HSETNX: when two replicas race, the first time written wins for both.
      for (const target of missing) batch.hsetnx(key, target, String(now));
      if (stale.length > 0) batch.hdel(key, ...stale);
      await batch.exec();
    }
    const result = new Map<string, Date>();
    for (const target of targets) {
      const at = Number(known[target] ?? now);
      result.set(target, new Date(Number.isFinite(at) ? at : now));
    }
    return result;
  };
}
