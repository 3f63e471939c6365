import type { Cluster, Redis } from 'ioredis';
import type { ProbeResult } from './types.js';
import { elapsedMs, probeErrorMessage, withTimeout } from './with-timeout.js';
import { listLiveWorkers } from './worker-heartbeat.js';

export interface WorkersProbeOptions {
  /**
   * Until this time (epoch ms) no heartbeat at all means workers may still be starting (they start
   * with the watching API, and beat only once up): degraded and `starting`, which raises no alert.
   */
  startingUntil?: number;
}

/**
 * Live workers from heartbeats. No worker at all is unhealthy (nothing will run backups, docs/architecture.md#alerts
 * "no worker running"); a queue nobody consumes while others are served is degraded.
 */
export async function probeWorkers(
  redis: Redis | Cluster,
  queuePrefix: string,
  queues: readonly string[],
  timeoutMs: number,
  options: WorkersProbeOptions = {},
): Promise<ProbeResult> {
  const start = performance.now();
  try {
    const live = await withTimeout(
      listLiveWorkers(redis, queuePrefix, queues),
      timeoutMs,
      'worker heartbeats',
    );
    const perQueue = Object.fromEntries(queues.map((queue) => [queue, live[queue]?.length ?? 0]));
    const distinct = new Set(Object.values(live).flat());
    const idle = queues.filter((queue) => perQueue[queue] === 0);
    const startingForMs = (options.startingUntil ?? 0) - Date.now();
    if (distinct.size === 0 && startingForMs > 0) {
      return {
        status: 'degraded',
        starting: true,
        active_workers: 0,
        queues: perQueue,
        response_time_ms: elapsedMs(start),
        error: `no worker heartbeat yet; workers that start now have ${Math.ceil(startingForMs / 1000)} s more to report`,
      };
    }
    const status = distinct.size === 0 ? 'unhealthy' : idle.length > 0 ? 'degraded' : 'healthy';
    return {
      status,
      active_workers: distinct.size,
      queues: perQueue,
      response_time_ms: elapsedMs(start),
      ...(status === 'healthy'
        ? {}
        : { error: distinct.size === 0 ? 'no worker running' : `no worker for queue ${idle.join(', ')}` }),
    };
  } catch (error) {
    return {
      status: 'unhealthy',
      active_workers: 0,
      response_time_ms: elapsedMs(start),
      error: `cannot read worker heartbeats: ${probeErrorMessage(error)}`,
    };
  }
}
