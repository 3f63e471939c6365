/**
 * Fault: the S3 store is down for the whole upload retry window, then comes back. A real worker
 * process, s3rver started and stopped on a fixed port, Slack as a local receiver.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { listBackups } from '@warden/catalog';
import { JOB_NAMES } from '@warden/queue';
import { createS3Storage } from '@warden/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpReceiver, startHttpReceiver } from '../helpers/http-receiver.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg-fixtures.js';
import { startWardenProcess, testEnv, type WardenProcess, waitForJobEnd } from '../helpers/processes.js';
import { createTestQueue } from '../helpers/queues.js';
import { type S3TestServer, s3rverEnv, s3rverStorageOptions, startS3Server } from '../helpers/s3-server.js';
import { createSlowPgDump, freePort } from './fault-helpers.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const BUCKET = 'warden-fault-s3';
const RETRY_DELAY_MS = 1_000;
const queuePrefix = `warden-fault-s3-${randomBytes(4).toString('hex')}`;
const testQueue = createTestQueue({ prefix: queuePrefix });
const { queue } = testQueue;

let database: TestDatabase;
let workDir: string;
let slack: HttpReceiver;
let worker: WardenProcess | undefined;
let s3: S3TestServer | undefined;

const slackTexts = () => slack.requests.map((request) => request.text);

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'warden-fault-s3-'));
  database = await createTestDatabase({ prefix: 'warden_fault_s3', seed: { orders: 2_000 } });
  slack = await startHttpReceiver();
});

afterAll(async () => {
  await worker?.stop('SIGKILL');
  await s3?.stop();
  await slack?.close();
  await testQueue.close();
  await database?.drop();
  await rm(workDir, { recursive: true, force: true });
});

describe('S3 down for the whole retry window', () => {
  it('retries 3 times without dumping again, alerts, keeps the integrity-checked file; the next run after recovery succeeds', async () => {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    const spoolDir = path.join(workDir, 'spool');
    const pgDump = createSlowPgDump(workDir);
    worker = startWardenProcess(
      'apps/worker/src/main.ts',
      testEnv({
        DATABASE_URL: database.url,
        BACKUP_ENVIRONMENT: 'fault',
        REDIS_URL,
        QUEUE_PREFIX: queuePrefix,
        BACKUP_SPOOL_DIR: spoolDir,
        BACKUP_MIN_FREE_MB: '0',
        PG_DUMP_PATH: pgDump.path,
        ...s3rverEnv(endpoint, BUCKET),
        UPLOAD_RETRY_ATTEMPTS: '3',
        UPLOAD_RETRY_DELAY_MS: String(RETRY_DELAY_MS),
        SLACK_WEBHOOK_URL: `${slack.url}/hooks/fault`,
        ALERT_THROTTLE_SECONDS: '0',
        WORKER_METRICS_PORT: '0',
      }),
    );
    await worker.waitForLine(/"msg":"worker started"/, 60_000);

    const failing = await queue.add(JOB_NAMES.backupCreate, { target: database.name, trigger: 'api' });
    const failed = await waitForJobEnd(queue, failing, 60_000);
    expect(await failed.getState()).toBe('failed');
    expect(failed.failedReason).toMatch(/upload failed after 4 attempts/);
    // One dump, four uploads of the same integrity-checked file.
    expect(pgDump.runs()).toBe(1);
    expect(failed.data.upload?.attempts).toBe(3);

    // Alerts: three "will retry" warnings, then the final failure naming the kept file.
    const alerts = await slack.waitFor(4, {
      filter: (request) => request.text.includes('Upload of the'),
    });
    const titles = alerts.map(
      (request) =>
        /Upload of the \S+ backup failed (?:\(attempt \d+\/\d+\), will retry|after \d+ attempts)/.exec(
          request.text,
        )?.[0] ?? '',
    );
    expect(titles.slice(0, 3)).toEqual([
      `Upload of the ${database.name} backup failed (attempt 1/4), will retry`,
      `Upload of the ${database.name} backup failed (attempt 2/4), will retry`,
      `Upload of the ${database.name} backup failed (attempt 3/4), will retry`,
    ]);
    expect(titles[3]).toBe(`Upload of the ${database.name} backup failed after 4 attempts`);
    // The retries waited for the configured gap (a BullMQ delay), not back to back.
    expect((failed.finishedOn ?? 0) - failed.timestamp).toBeGreaterThanOrEqual(3 * RETRY_DELAY_MS);

    const kept = (await readdir(spoolDir)).filter((name) => name.endsWith('.sql.gz'));
    expect(kept).toHaveLength(1);
    const keptPath = path.join(spoolDir, kept[0] ?? '');
    expect(failed.failedReason).toContain(keptPath);
    expect(alerts[3]?.text).toContain(kept[0]);
    execFileSync('gzip', ['-t', keptPath]);

    // S3 comes back: the next run stores a checked backup.
    s3 = await startS3Server({ buckets: [BUCKET], port });
    slack.reset();
    const next = await queue.add(JOB_NAMES.backupCreate, { target: database.name, trigger: 'api' });
    const done = await waitForJobEnd(queue, next, 60_000);
    expect(done.failedReason).toBeUndefined();
    expect(done.returnvalue).toMatchObject({
      status: 'success',
      location: expect.stringContaining(`s3://${BUCKET}/`),
    });
    const storage = createS3Storage(s3rverStorageOptions(endpoint, BUCKET));
    const stored = await listBackups(storage, { target: database.name });
    await storage.close();
    expect(stored.map((manifest) => manifest.filename)).toEqual([
      (done.returnvalue as { filename: string }).filename,
    ]);
    await slack.waitFor(1, { filter: (request) => request.text.includes('succeeded') });
    expect(slackTexts().some((text) => text.includes('Upload of the'))).toBe(false);
    // The failed run's file, its spool record and its job's record (so that retrying the failed
    // job uploads that file instead of dumping again) are still there for the operator; the new run
    // left nothing behind.
    expect(existsSync(keptPath)).toBe(true);
    expect((await readdir(spoolDir)).sort()).toEqual(
      [kept[0], `${kept[0]}.manifest.json`, `${database.name}.job-${failed.id}.job.json`].sort(),
    );
  });
});
