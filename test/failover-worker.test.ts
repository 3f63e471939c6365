import { QUEUE_NAMES } from '@warden/queue';
import { type Job, Worker } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { FailoverTolerantWorker, isRedisUnavailable } from '../apps/worker/src/failover-worker.js';
import { createTestQueue } from './helpers/queues.js';
import { uniquePrefix } from './helpers/test-run.js';

/*
 * Finishing a job through a Redis failover, on the real Redis: the job's `moveToCompleted` fails the
 * way a Cluster client fails while a replica has not yet taken over, then works again.
 */
const prefix = uniquePrefix('job-finish');
const testQueue = createTestQueue({ prefix });
const workers: Worker[] = [];
const CLUSTER_MID_FAILOVER =
  'Too many Cluster redirections. Last error: ReplyError: MOVED 4841 127.0.0.1:17100';

afterAll(async () => {
  for (const worker of workers) await worker.close();
  await testQueue.close();
});

function make(kind: 'bullmq' | 'tolerant'): Worker {
  const options = { connection: testQueue.redis, prefix, autorun: false };
  const worker =
    kind === 'bullmq'
      ? new Worker(QUEUE_NAMES.backups, null, options)
      : new FailoverTolerantWorker(QUEUE_NAMES.backups, null, options);
  worker.on('error', () => undefined);
  workers.push(worker);
  return worker;
}

/** A job whose completion fails `failures` times with `message`, then succeeds. */
function jobFailing(failures: number, message: string) {
  const job = {
    id: '7',
    calls: 0,
    async moveToCompleted() {
      job.calls += 1;
      if (job.calls <= failures) throw new Error(message);
      return undefined;
    },
  };
  return job;
}

type HandleCompleted = (result: unknown, job: unknown, token: string) => Promise<unknown>;
const handleCompleted = (worker: Worker): HandleCompleted =>
  (worker as unknown as { handleCompleted: HandleCompleted }).handleCompleted.bind(worker);

describe('finishing a job through a Redis failover', () => {
  it("BullMQ's own worker gives up on a Cluster's redirection error at once", async () => {
    const job = jobFailing(1, CLUSTER_MID_FAILOVER);
    await expect(handleCompleted(make('bullmq'))({ ok: true }, job, 'token')).rejects.toThrow(
      'Too many Cluster redirections',
    );
    expect(job.calls).toBe(1);
  });

  it('the worker retries the completion until Redis answers again, and reports it completed once', async () => {
    const worker = make('tolerant');
    const completed: Job[] = [];
    worker.on('completed', (job) => completed.push(job));
    const job = jobFailing(2, CLUSTER_MID_FAILOVER);
    await handleCompleted(worker)({ ok: true }, job, 'token');
    expect(job.calls).toBe(3);
    expect(completed).toHaveLength(1);
  });

  it('a refusal (the job is no longer held under this token) is not retried', async () => {
    const job = jobFailing(5, 'Missing lock for job 7. moveToFinished');
    await expect(handleCompleted(make('tolerant'))({ ok: true }, job, 'token')).rejects.toThrow(
      'Missing lock',
    );
    expect(job.calls).toBe(1);
  });

  it('tells unavailability from refusal', () => {
    for (const message of [
      CLUSTER_MID_FAILOVER,
      'CLUSTERDOWN The cluster is down',
      'Connection is closed.',
      "READONLY You can't write against a read only replica.",
      'connect ECONNREFUSED 127.0.0.1:6379',
    ]) {
      expect({ message, unavailable: isRedisUnavailable(new Error(message)) }).toEqual({
        message,
        unavailable: true,
      });
    }
    for (const message of ['Missing lock for job 7. moveToFinished', 'Job 7 is not in the active state']) {
      expect({ message, unavailable: isRedisUnavailable(new Error(message)) }).toEqual({
        message,
        unavailable: false,
      });
    }
  });
});
