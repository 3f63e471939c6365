import type { Cluster, Redis } from 'ioredis';
import type { ProbeResult } from './types.js';
import { elapsedMs, probeErrorMessage, withTimeout } from './with-timeout.js';

/** PING on the shared client; a worker-role client queues commands while down, hence the timeout. */
export async function probeRedis(redis: Redis | Cluster, timeoutMs: number): Promise<ProbeResult> {
  const start = performance.now();
  try {
    const reply = await withTimeout(redis.ping(), timeoutMs, 'redis');
    if (reply !== 'PONG') {
      return { status: 'unhealthy', response_time_ms: elapsedMs(start), error: 'unexpected PING reply' };
    }
    return { status: 'healthy', response_time_ms: elapsedMs(start) };
  } catch (error) {
    return { status: 'unhealthy', response_time_ms: elapsedMs(start), error: probeErrorMessage(error) };
  }
}
