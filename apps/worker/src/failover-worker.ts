import { type Job, Worker } from 'bullmq';

/**
 * Errors that mean "Redis cannot answer right now" rather than "the command was refused": a
 * Cluster still redirecting to a dead master, a cluster without quorum, a connection that closed
 * or was refused, a replica not yet promoted (READONLY) or a node loading its data.
 */
const UNAVAILABLE =
  /Too many Cluster redirections|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|LOADING|Connection is closed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Failed to refresh slots cache/;

export function isRedisUnavailable(error: unknown): boolean {
  return error instanceof Error && UNAVAILABLE.test(error.message);
}

/** How long a job's completion (or failure) is retried while Redis is unavailable. */
export const JOB_FINISH_RETRY_MS = 60_000;

/**
 * A BullMQ Worker whose moving of a finished job to completed or failed survives a Redis failover
 * (docs/architecture.md#redis-failover). BullMQ retries it only on a few connection errors; a
 * Cluster's "Too many Cluster redirections" ended the attempt, the job then stayed active until
 * the stalled-job recovery ran it again, or was marked failed once Redis was back although its
 * backup was stored. A retry after the first call did reach Redis is refused by BullMQ's own
 * check (the job is no longer active under this token), which ends the retries.
 */
export class FailoverTolerantWorker extends Worker {
  protected override handleCompleted(...args: Parameters<Worker['handleCompleted']>) {
    return this.whileUnavailable(() => super.handleCompleted(...args));
  }

  protected override handleFailed(...args: Parameters<Worker['handleFailed']>) {
    return this.whileUnavailable(() => super.handleFailed(...args));
  }

  private async whileUnavailable(finish: () => Promise<Job>): Promise<Job> {
    const deadline = Date.now() + JOB_FINISH_RETRY_MS;
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await finish();
      } catch (error) {
        if (!isRedisUnavailable(error) || this.closing || Date.now() > deadline) throw error;
        this.emit('error', error as Error);
        await new Promise((resolve) => setTimeout(resolve, Math.min(attempt, 5) * 1_000));
      }
    }
  }
}
