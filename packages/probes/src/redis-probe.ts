import type { Cluster, Redis } from 'ioredis';
import type { ProbeResult } from './types.js';
import { elapsedMs, probeErrorMessage, withTimeout } from './with-timeout.js';

/**
 * Checks the Redis node that holds Warden's keys. With `checkKey` (a key under `QUEUE_PREFIX`) the
 * probe writes that key: in a Cluster the write goes to the master owning the prefix's hash slot,
 * which a PING (answered by any node) would not prove, and it fails while that master is down or a
 * replica has not yet taken over. Without a key it sends PING. A worker-role client queues commands
 * while down, hence the timeout.
 */
export async function probeRedis(
  redis: Redis | Cluster,
  timeoutMs: number,
  checkKey?: string,
): Promise<ProbeResult> {
  const start = performance.now();
  try {
    const reply = checkKey
      ? await withTimeout(redis.set(checkKey, String(Date.now()), 'PX', 60_000), timeoutMs, 'redis')
      : await withTimeout(redis.ping(), timeoutMs, 'redis');
    if (reply !== 'PONG' && reply !== 'OK') {
      return { status: 'unhealthy', response_time_ms: elapsedMs(start), error: 'unexpected Redis reply' };
    }
    return { status: 'healthy', response_time_ms: elapsedMs(start) };
  } catch (error) {
    return { status: 'unhealthy', response_time_ms: elapsedMs(start), error: probeErrorMessage(error) };
  }
}
