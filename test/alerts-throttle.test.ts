/**
 * Alert throttling across processes: two real worker processes share one Redis. The same alert (a failing
 * backup of one target) raised by either process goes out once per ALERT_THROTTLE_SECONDS window;
 * after the window the next one goes out again with the number suppressed meanwhile.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { JOB_NAMES } from '@warden/queue';
import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SlackMessage, type SlackReceiver, startSlackReceiver } from './helpers/alerts-receivers.js';
import { uniquePrefix } from './helpers/api-fixtures.js';
import { startWardenProcess, testEnv, type WardenProcess, waitFor } from './helpers/processes.js';
import { createTestQueue } from './helpers/queues.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const THROTTLE_SECONDS = 12;
const KEY = 'backup-failed:pgdown';

const prefix = uniquePrefix('alerts-throttle');
const testQueue = createTestQueue({ prefix });
const { queue } = testQueue;
let workDir: string;
let slack: SlackReceiver;
const workers: WardenProcess[] = [];

async function failedJob(): Promise<Job> {
  const job = await queue.add(JOB_NAMES.backupCreate, { target: 'pgdown', trigger: 'api' });
  return waitFor(
    async () => {
      // State first, then the job: a job read before it finished would lack its failure reason.
      return (await queue.getJobState(job.id ?? '')) === 'failed'
        ? await queue.getJob(job.id ?? '')
        : undefined;
    },
    30_000,
    `job ${job.id} to fail`,
  );
}

/** Which worker process handled a job: the one that logged its failure. */
function handledBy(job: Job): WardenProcess | undefined {
  return workers.find((worker) =>
    worker.lines.some(
      (line) => line.includes('"msg":"backup failed"') && line.includes(`"jobId":"${job.id}"`),
    ),
  );
}

const ours = (message: SlackMessage) => message.key === KEY;

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'warden-alerts-throttle-'));
  slack = await startSlackReceiver();
  for (const name of ['a', 'b']) {
    const worker = startWardenProcess(
      'apps/worker/src/main.ts',
      testEnv({
        // Port 1 is closed: every backup fails at once, the shared Postgres is left alone.
        DATABASE_URL: 'postgres://postgres@127.0.0.1:1/pgdown',
        BACKUP_DIR: path.join(workDir, `backups-${name}`),
        BACKUP_SPOOL_DIR: path.join(workDir, `spool-${name}`),
        REDIS_URL,
        QUEUE_PREFIX: prefix,
        SLACK_WEBHOOK_URL: slack.webhookUrl,
        ALERT_THROTTLE_SECONDS: String(THROTTLE_SECONDS),
        WORKER_METRICS_PORT: '0',
        WORKER_CONCURRENCY: '1',
        LOG_LEVEL: 'debug',
      }),
    );
    workers.push(worker);
  }
  await Promise.all(workers.map((worker) => worker.waitForLine(/"msg":"worker started"/, 60_000)));
});

afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.stop('SIGKILL')));
  await testQueue.close();
  await slack?.receiver.close();
  await rm(workDir, { recursive: true, force: true });
});

describe('alert throttling shared by two worker processes', () => {
  it('suppresses the same alert from either process inside the window and sends it again after', async () => {
    const first = await failedJob();
    const [sent] = await slack.waitForMessages(ours, 1, 10_000);
    const sentAt = Date.now();
    expect(sent?.suppressed).toBe(0);
    const sender = handledBy(first);
    expect(sender).toBeDefined();

    // More failures until the other process has handled one too (BullMQ hands jobs to whichever
    // worker asks first, so this normally takes one job); all inside the window.
    const later: Job[] = [];
    while (later.length < 6 && !later.some((job) => handledBy(job) !== sender)) later.push(await failedJob());
    const other = later.map(handledBy).find((worker) => worker !== sender);
    expect(other, 'the second worker process never handled a job').toBeDefined();
    expect(Date.now() - sentAt).toBeLessThan(THROTTLE_SECONDS * 1000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(slack.messages().filter(ours)).toHaveLength(1);
    // The other process made the same alert and its notifier held it back.
    expect(
      other?.lines.some((line) => line.includes('alert suppressed by throttle') && line.includes(KEY)),
    ).toBe(true);

    // After the window the next failure goes out again, counting what was held back meanwhile.
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, sentAt + THROTTLE_SECONDS * 1000 + 500 - Date.now())),
    );
    await failedJob();
    const messages = await slack.waitForMessages(ours, 2, 10_000);
    expect(messages[1]?.suppressed).toBe(later.length);
    expect(messages[1]?.text).toContain(
      `${later.length} similar alert${later.length === 1 ? '' : 's'} suppressed since the last message`,
    );
  });
});
