/**
 * Fault: Slack and Sentry cannot be reached. Slack's webhook host accepts connections and
 * never answers (a firewall that drops, the slowest failure); Sentry's host refuses connections.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { listBackups } from '@warden/catalog';
import { JOB_NAMES } from '@warden/queue';
import { createLocalStorage } from '@warden/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/pg-fixtures.js';
import { startWardenProcess, testEnv, type WardenProcess, waitForJobEnd } from '../helpers/processes.js';
import { createTestQueue } from '../helpers/queues.js';
import { freePort, jsonLines, startBlackhole } from './fault-helpers.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const queuePrefix = `warden-fault-notify-${randomBytes(4).toString('hex')}`;
const testQueue = createTestQueue({ prefix: queuePrefix });
const { queue } = testQueue;

let database: TestDatabase;
let workDir: string;
let worker: WardenProcess | undefined;
let slackHole: Awaited<ReturnType<typeof startBlackhole>>;

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'warden-fault-notify-'));
  database = await createTestDatabase({ prefix: 'warden_fault_notify', seed: { orders: 2_000 } });
  slackHole = await startBlackhole();
});

afterAll(async () => {
  await worker?.stop('SIGKILL');
  await slackHole?.close();
  await testQueue.close();
  await database?.drop();
  await rm(workDir, { recursive: true, force: true });
});

describe('Slack and Sentry unreachable', () => {
  it('backups still succeed; the failed notifications are logged; shutdown is not held up', async () => {
    const sentryPort = await freePort();
    const backupDir = path.join(workDir, 'backups');
    worker = startWardenProcess(
      'apps/worker/src/main.ts',
      testEnv({
        DATABASE_URL: database.url,
        BACKUP_ENVIRONMENT: 'fault',
        REDIS_URL,
        QUEUE_PREFIX: queuePrefix,
        BACKUP_DIR: backupDir,
        BACKUP_SPOOL_DIR: path.join(workDir, 'spool'),
        BACKUP_MIN_FREE_MB: '0',
        SLACK_WEBHOOK_URL: `http://127.0.0.1:${slackHole.port}/services/T000/B000/secret-hook`,
        SENTRY_DSN: `http://publickey@127.0.0.1:${sentryPort}/1`,
        WORKER_METRICS_PORT: '0',
        WORKER_SHUTDOWN_GRACE_MS: '5000',
      }),
    );
    await worker.waitForLine(/"msg":"worker started"/, 60_000);

    const job = await queue.add(JOB_NAMES.backupCreate, { target: database.name, trigger: 'api' });
    // Notifications are delivered in the background: the job must not wait for a Slack that hangs.
    const queuedAt = Date.now();
    const done = await waitForJobEnd(queue, job, 90_000);
    expect(Date.now() - queuedAt).toBeLessThan(15_000);
    expect(done.failedReason).toBeUndefined();
    expect(await done.getState()).toBe('completed');
    const result = done.returnvalue as { status: string; filename: string };
    expect(result.status).toBe('success');
    const storage = createLocalStorage({ dir: backupDir });
    expect((await listBackups(storage, { target: database.name })).map((m) => m.filename)).toEqual([
      result.filename,
    ]);
    await storage.close();

    expect(slackHole.connections).toBeGreaterThanOrEqual(1);
    // Slack gets a 5 s timeout and 3 retries with back-off before the notifier gives up.
    await worker.waitForLine(/"msg":"slack notification failed"/, 60_000);
    const failedNotice = jsonLines(worker.lines).find((line) => line.msg === 'slack notification failed');
    expect(failedNotice).toMatchObject({ alertKey: expect.stringContaining('backup-success:') });
    // The webhook URL is a secret: it must not appear in any log line.
    expect(worker.lines.join('\n')).not.toContain('secret-hook');

    // A job failure goes to the (unreachable) Sentry; the job still fails normally and quickly.
    const broken = await queue.add(JOB_NAMES.backupCreate, { target: 'no_such_target', trigger: 'api' });
    const brokenDone = await waitForJobEnd(queue, broken, 30_000);
    expect(brokenDone.failedReason).toMatch(/unknown target "no_such_target"/);

    const signalledAt = Date.now();
    expect(await worker.stop('SIGTERM')).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(20_000);
  });
});
