import { Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import type { HealthStatus, ProbeResult } from './types.js';
import { elapsedMs, probeErrorMessage, withTimeout } from './with-timeout.js';

export interface QueueStats {
  status: HealthStatus;
  /** Ready to run: waiting plus prioritized. */
  waiting: number;
  /** Every delayed job, a job scheduler's next run included. */
  delayed: number;
  /** Delayed jobs whose time has come and that no worker has taken yet. */
  overdue: number;
  /** Work that should be running: waiting plus overdue delayed. Compared with `QUEUE_LENGTH_THRESHOLD`. */
  backlog: number;
  active: number;
  failed: number;
  completed: number;
  /** Seconds since the longest-waiting ready or overdue job became ready; 0 when none waits. */
  oldest_waiting_age_s: number;
  error?: string;
}

export interface QueuesProbe {
  /** Per queue stats under the queue's name, plus the aggregate `status`. */
  probe(timeoutMs: number): Promise<ProbeResult>;
  close(): Promise<void>;
}

/**
 * BullMQ scores a delayed job `due_ms * 0x1000 + counter` (the counter orders jobs due in the same
 * millisecond), so every score at or below this one belongs to a job due by `nowMs`.
 */
const delayedScoreUntil = (nowMs: number) => nowMs * 0x1000 + 0xfff;

/**
 * Reads queue lengths through BullMQ's getters on the shared connection (BullMQ does not close a
 * connection it was given). Backlog = ready jobs + delayed jobs that are due: each job scheduler
 * keeps its next run as a delayed job, so counting every delayed job would make a fleet of a few
 * hundred targets look permanently backlogged. Above `QUEUE_LENGTH_THRESHOLD` the queue is degraded:
 * work is late, nothing is broken yet.
 */
export function createQueuesProbe(options: {
  redis: Redis | Cluster;
  queuePrefix: string;
  queues: readonly string[];
  queueLengthThreshold: number;
}): QueuesProbe {
  const queues = new Map<string, Queue>();
  const queueFor = (name: string) => {
    let queue = queues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection: options.redis, prefix: options.queuePrefix });
      // Connection errors surface through the probe result; this only prevents an unhandled 'error'.
      queue.on('error', () => {});
      queues.set(name, queue);
    }
    return queue;
  };

  const statsOf = async (name: string): Promise<QueueStats> => {
    const queue = queueFor(name);
    const counts = await queue.getJobCounts(
      'waiting',
      'prioritized',
      'delayed',
      'active',
      'failed',
      'completed',
    );
    // A paused queue keeps its jobs in the wait list in BullMQ 6, so `waiting` covers it.
    const waiting = (counts.waiting ?? 0) + (counts.prioritized ?? 0);
    const delayed = counts.delayed ?? 0;
    const now = Date.now();
    const delayedKey = queue.toKey('delayed');
    let overdue = 0;
    let oldestReadyAt = Number.POSITIVE_INFINITY;
    if (delayed > 0) {
      overdue = await options.redis.zcount(delayedKey, 0, delayedScoreUntil(now));
      if (overdue > 0) {
        const [, score] = await options.redis.zrange(delayedKey, '0', '0', 'WITHSCORES');
        if (score !== undefined) oldestReadyAt = Math.floor(Number(score) / 0x1000);
      }
    }
    if ((counts.waiting ?? 0) > 0) {
      // Jobs are pushed on the left: with asc=true, index 0 is the job that has waited longest.
      const [oldest] = await queue.getJobs(['waiting'], 0, 0, true);
      // A job that was delayed became ready at timestamp + delay, not at creation.
      if (oldest) oldestReadyAt = Math.min(oldestReadyAt, oldest.timestamp + (oldest.delay ?? 0));
    }
    const oldestAgeS = Number.isFinite(oldestReadyAt)
      ? Math.max(0, Math.round((now - oldestReadyAt) / 1000))
      : 0;
    const backlog = waiting + overdue;
    return {
      status: backlog > options.queueLengthThreshold ? 'degraded' : 'healthy',
      waiting,
      delayed,
      overdue,
      backlog,
      active: counts.active ?? 0,
      failed: counts.failed ?? 0,
      completed: counts.completed ?? 0,
      oldest_waiting_age_s: oldestAgeS,
    };
  };

  return {
    async probe(timeoutMs) {
      const start = performance.now();
      const result: Record<string, QueueStats | HealthStatus | number | string> = {};
      const statuses: HealthStatus[] = [];
      const backlogged: string[] = [];
      const settled = await Promise.all(
        options.queues.map(async (name): Promise<[string, QueueStats]> => {
          try {
            return [name, await withTimeout(statsOf(name), timeoutMs, `queue ${name}`)];
          } catch (error) {
            return [
              name,
              {
                status: 'unhealthy',
                waiting: 0,
                delayed: 0,
                overdue: 0,
                backlog: 0,
                active: 0,
                failed: 0,
                completed: 0,
                oldest_waiting_age_s: 0,
                error: probeErrorMessage(error),
              },
            ];
          }
        }),
      );
      for (const [name, stats] of settled) {
        result[name] = stats;
        statuses.push(stats.status);
        if (stats.status === 'degraded') backlogged.push(name);
      }
      const status = statuses.includes('unhealthy')
        ? 'unhealthy'
        : statuses.includes('degraded')
          ? 'degraded'
          : 'healthy';
      return {
        ...result,
        status,
        response_time_ms: elapsedMs(start),
        ...(backlogged.length > 0
          ? { error: `queue length above ${options.queueLengthThreshold}: ${backlogged.join(', ')}` }
          : {}),
      };
    },
    async close() {
      await Promise.allSettled([...queues.values()].map((queue) => queue.close()));
      queues.clear();
    },
  };
}
