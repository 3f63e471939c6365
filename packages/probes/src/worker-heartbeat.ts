import type { Cluster, Redis } from 'ioredis';
import type { ProbeLogger } from './reporting-types.js';
import { probeErrorMessage, withTimeout } from './with-timeout.js';

/**
 * Liveness of workers comes from heartbeats that each worker process refreshes in Redis, not from
 * `CLIENT LIST` / BullMQ's `getWorkers()`: those need the CLIENT command (often disabled on managed
 * Redis), see only one node of a Cluster, and count any connection that carries the queue's name.
 *
 * Layout: one sorted set per queue, `<queuePrefix>:heartbeats:<queue>`, member = worker id, score =
 * the Redis-clock time (ms) at which that heartbeat expires. Using Redis' clock for both writing and
 * reading makes the expiry independent of clock skew between hosts.
 */
export function heartbeatKey(queuePrefix: string, queue: string): string {
  return `${queuePrefix}:heartbeats:${queue}`;
}

async function redisNowMs(redis: Redis | Cluster): Promise<number> {
  const [seconds, micros] = await redis.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/** Options of {@link createWorkerHeartbeat}. */
export interface WorkerHeartbeatOptions {
  /** Injected; not closed by the heartbeat. */
  redis: Redis | Cluster;
  /** `QUEUE_PREFIX`. */
  queuePrefix: string;
  /** Queues this process consumes. */
  queues: readonly string[];
  /** Unique per process, e.g. `<hostname>:<pid>`. */
  workerId: string;
  /** How often the heartbeat is refreshed; it expires after three intervals. @defaultValue 10000 */
  intervalMs?: number;
  logger?: ProbeLogger;
}

export interface WorkerHeartbeat {
  start(): void;
  /** Stops refreshing and removes this worker's heartbeats at once (a crashed one expires instead). */
  stop(): Promise<void>;
}

/** How often a worker's heartbeat is refreshed by default. */
export const HEARTBEAT_INTERVAL_MS = 10_000;
/** A heartbeat not refreshed for this long (three default intervals) has expired. */
export const HEARTBEAT_TTL_MS = HEARTBEAT_INTERVAL_MS * 3;

export function createWorkerHeartbeat(options: WorkerHeartbeatOptions): WorkerHeartbeat {
  const { redis, queuePrefix, workerId, logger } = options;
  const queues = [...new Set(options.queues)];
  const intervalMs = options.intervalMs ?? HEARTBEAT_INTERVAL_MS;
  const ttlMs = intervalMs * 3;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;
  let failing = false;
  let running = false;

  const beat = async () => {
    const now = await redisNowMs(redis);
    for (const queue of queues) {
      const key = heartbeatKey(queuePrefix, queue);
      await redis.zadd(key, now + ttlMs, workerId);
      // Prune heartbeats of crashed workers and let the key vanish when every worker is gone.
      await redis.zremrangebyscore(key, '-inf', now);
      await redis.pexpire(key, ttlMs * 2);
    }
  };
  const tick = () => {
    if (!running || inFlight) return; // A slow Redis must not pile up beats.
    inFlight = withTimeout(beat(), Math.max(intervalMs, 1_000), 'heartbeat')
      .then(() => {
        if (failing) logger?.warn({ workerId }, 'worker heartbeat recovered');
        failing = false;
      })
      .catch((error: unknown) => {
        if (!failing) logger?.warn({ workerId, error: probeErrorMessage(error) }, 'worker heartbeat failed');
        failing = true;
        // Try again soon rather than a whole interval later, so a worker is not invisible for long.
        if (running) setTimeout(tick, Math.min(1_000, intervalMs)).unref();
      })
      .finally(() => {
        inFlight = undefined;
      });
  };

  return {
    start() {
      if (running) return;
      running = true;
      tick();
      timer = setInterval(tick, intervalMs);
      // The heartbeat alone must not keep a process alive during shutdown.
      timer.unref();
    },
    async stop() {
      running = false;
      if (timer) clearInterval(timer);
      timer = undefined;
      await inFlight;
      try {
        await withTimeout(
          Promise.all(queues.map((queue) => redis.zrem(heartbeatKey(queuePrefix, queue), workerId))),
          2_000,
          'heartbeat removal',
        );
      } catch (error) {
        logger?.warn(
          { workerId, error: probeErrorMessage(error) },
          'could not remove worker heartbeat; it will expire',
        );
      }
    },
  };
}

/** Worker ids with a live heartbeat, per queue. */
export async function listLiveWorkers(
  redis: Redis | Cluster,
  queuePrefix: string,
  queues: readonly string[],
): Promise<Record<string, string[]>> {
  const now = await redisNowMs(redis);
  const result: Record<string, string[]> = {};
  for (const queue of queues) {
    result[queue] = await redis.zrangebyscore(heartbeatKey(queuePrefix, queue), `(${now}`, '+inf');
  }
  return result;
}
