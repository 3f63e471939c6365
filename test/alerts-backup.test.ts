/**
 * Backup alerts end to end: the real worker process runs backups from the
 * queue and reports to a fake Slack webhook and a fake Sentry ingest. Cases: a good backup, a
 * database that cannot be reached, and an upload that fails on every attempt.
 */
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { JOB_NAMES, QUEUE_NAMES } from '@warden/queue';
import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type SentryReceiver,
  type SlackMessage,
  type SlackReceiver,
  startSentryReceiver,
  startSlackReceiver,
} from './helpers/alerts-receivers.js';
import { uniquePrefix } from './helpers/api-fixtures.js';
import { createTestDatabase, pgUrl, type TestDatabase, withClient } from './helpers/pg-fixtures.js';
import { startWardenProcess, testEnv, type WardenProcess, waitFor } from './helpers/processes.js';
import { createTestQueue } from './helpers/queues.js';
import { type S3TestServer, s3rverEnv, startS3Server } from './helpers/s3-server.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const BUCKET = 'warden-alerts';
const ENVIRONMENT = 'alerting';

const prefix = uniquePrefix('alerts-backup');
const testQueue = createTestQueue({ prefix });
const { queue } = testQueue;
let workDir: string;
let database: TestDatabase;
let slack: SlackReceiver;
let sentry: SentryReceiver;
let s3: S3TestServer;
let worker: WardenProcess;

async function finished(job: Job, timeoutMs = 60_000): Promise<{ state: string; job: Job }> {
  return waitFor(
    async () => {
      // State first, then the job: a job read before it finished would lack its result.
      const state = await queue.getJobState(job.id ?? '');
      const fresh =
        state === 'completed' || state === 'failed' ? await queue.getJob(job.id ?? '') : undefined;
      return fresh && (state === 'completed' || state === 'failed') ? { state, job: fresh } : undefined;
    },
    timeoutMs,
    `job ${job.id} to finish`,
  );
}

const byKey = (key: string) => (message: SlackMessage) => message.key === key;

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'warden-alerts-backup-'));
  database = await createTestDatabase({ prefix: 'warden_alerts', seed: false });
  await withClient(database.name, (client) =>
    client.query(
      `CREATE TABLE notes AS SELECT i AS id, md5(i::text) AS body FROM generate_series(1, 2000) AS i`,
    ),
  );
  slack = await startSlackReceiver();
  sentry = await startSentryReceiver();
  s3 = await startS3Server({ buckets: [BUCKET] });
  // Two targets: the real database, and one whose server port is closed ("pg down" without stopping
  // the shared Postgres, which other test files use).
  const targetsFile = path.join(workDir, 'targets.yml');
  writeFileSync(
    targetsFile,
    [
      'targets:',
      `  - name: ${database.name}`,
      `    url: ${pgUrl(database.name)}`,
      `    environment: ${ENVIRONMENT}`,
      '  - name: pgdown',
      '    url: postgres://postgres@127.0.0.1:1/pgdown',
      `    environment: ${ENVIRONMENT}`,
      '',
    ].join('\n'),
  );
  worker = startWardenProcess(
    'apps/worker/src/main.ts',
    testEnv({
      WARDEN_CONFIG: targetsFile,
      ...s3rverEnv(s3.endpoint, BUCKET),
      BACKUP_SPOOL_DIR: path.join(workDir, 'spool'),
      UPLOAD_RETRY_ATTEMPTS: '1',
      UPLOAD_RETRY_DELAY_MS: '300',
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      SLACK_WEBHOOK_URL: slack.webhookUrl,
      SENTRY_DSN: sentry.dsn,
      SENTRY_ENVIRONMENT: 'alerts-test',
      WORKER_METRICS_PORT: '0',
      LOG_LEVEL: 'info',
    }),
  );
  await worker.waitForLine(/"msg":"worker started"/, 60_000);
});

afterAll(async () => {
  await worker?.stop('SIGKILL');
  await testQueue.close();
  await s3?.stop();
  await slack?.receiver.close();
  await sentry?.receiver.close();
  await database?.drop();
  await rm(workDir, { recursive: true, force: true });
});

describe('backup alerts from the real worker process', () => {
  it('reports a good backup once, with file name, size and environment, and nothing to Sentry', async () => {
    const job = await queue.add(JOB_NAMES.backupCreate, { target: database.name, trigger: 'api' });
    const { state, job: done } = await finished(job);
    expect(state).toBe('completed');
    const result = done.returnvalue as { filename: string; size_mb: number };
    const key = `backup-success:${database.name}:${result.filename}`;
    const [message] = await slack.waitForMessages(byKey(key), 1, 10_000);
    expect(message?.text).toContain(`Backup of ${database.name} (${ENVIRONMENT}) succeeded`);
    expect(message?.fields).toMatchObject({
      File: result.filename,
      Size: `${result.size_mb} MB`,
      Environment: ENVIRONMENT,
    });
    expect(message?.color).toBe('#2EB67D');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(slack.messages().filter((m) => m.key.startsWith('backup-success:'))).toHaveLength(1);
    expect(sentry.events().filter((e) => e.event.tags?.job_id === job.id)).toEqual([]);
  });

  it('reports a backup of an unreachable database once, and captures the failed job in Sentry', async () => {
    const job = await queue.add(JOB_NAMES.backupCreate, { target: 'pgdown', trigger: 'api' });
    const { state, job: done } = await finished(job);
    expect(state).toBe('failed');
    expect(done.failedReason).toMatch(/PREFLIGHT_CONNECT_FAILED/);
    const [message] = await slack.waitForMessages(byKey('backup-failed:pgdown'), 1, 10_000);
    expect(message?.text).toContain(`Backup of pgdown (${ENVIRONMENT}) failed`);
    expect(message?.fields).toMatchObject({
      Target: 'pgdown',
      Environment: ENVIRONMENT,
      Code: 'PREFLIGHT_CONNECT_FAILED',
      Job: job.id,
    });
    expect(message?.color).toBe('#E01E5A');
    const [event] = await sentry.waitForEvents((e) => e.event.tags?.job_id === job.id, 1, 15_000);
    expect(event?.event.tags).toMatchObject({ queue: QUEUE_NAMES.backups, job_id: job.id, target: 'pgdown' });
    expect(event?.event.environment).toBe('alerts-test');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(slack.messages().filter(byKey('backup-failed:pgdown'))).toHaveLength(1);
  });

  it('reports each failed upload attempt, the final failure, and one Sentry event with queue, job and target', async () => {
    await s3.stop();
    const job = await queue.add(JOB_NAMES.backupCreate, { target: database.name, trigger: 'api' });
    const { state, job: done } = await finished(job, 90_000);
    expect(state).toBe('failed');
    expect(done.failedReason).toMatch(/upload failed after 2 attempts/);

    const retry = await slack.waitForMessages(
      (m) => m.key.startsWith(`backup-upload-retry:${database.name}:`),
      1,
      10_000,
    );
    expect(retry).toHaveLength(1);
    expect(retry[0]?.text).toContain(
      `Upload of the ${database.name} backup failed (attempt 1/2), will retry`,
    );
    expect(retry[0]?.fields).toMatchObject({ Attempt: '1/2', Environment: ENVIRONMENT, Job: job.id });
    // The backup's own name, not the target-prefixed spool file name.
    expect(retry[0]?.fields.File).toMatch(
      new RegExp(`^${database.name}_${ENVIRONMENT}_\\d{8}_\\d{6}\\.sql\\.gz$`),
    );

    const [final] = await slack.waitForMessages(byKey(`backup-upload-failed:${database.name}`), 1, 10_000);
    expect(final?.text).toContain(`Upload of the ${database.name} backup failed after 2 attempts`);
    expect(final?.fields).toMatchObject({ Attempt: '2/2', Environment: ENVIRONMENT });
    expect(final?.color).toBe('#E01E5A');

    const events = await sentry.waitForEvents((e) => e.event.tags?.job_id === job.id, 1, 15_000);
    expect(events[0]?.event.tags).toMatchObject({
      queue: QUEUE_NAMES.backups,
      job_id: job.id,
      target: database.name,
    });
    expect(JSON.stringify(events[0]?.event.exception)).toContain('upload failed after 2 attempts');
    // The retry is a BullMQ delay, not a failure: only the final attempt reaches Sentry.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(sentry.events().filter((e) => e.event.tags?.job_id === job.id)).toHaveLength(1);
    expect(slack.messages().filter(byKey(`backup-upload-failed:${database.name}`))).toHaveLength(1);
  });

  it('keeps stderr free of the AWS SDK Node version warning (the S3 client was used above)', () => {
    expect(worker.lines.join('\n')).toContain('upload failed');
    expect(worker.lines.join('\n')).not.toContain('NodeVersionSupportWarning');
  });
});
