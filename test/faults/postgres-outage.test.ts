/**
 * Fault: the backed-up PostgreSQL goes down and comes back. A private PostgreSQL 15 cluster (initdb +
 * pg_ctl as OS user postgres, free port) so the shared server is never stopped; the real API and
 * worker processes; Slack as a local receiver.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpReceiver, startHttpReceiver } from '../helpers/http-receiver.js';
import { startWardenProcess, testEnv, type WardenProcess, waitFor } from '../helpers/processes.js';
import { createTestQueue } from '../helpers/queues.js';
import { freePort, type PrivatePostgres, startPrivatePostgres } from './fault-helpers.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const TOKEN = 'fault-pg-token-0123456789abcdef';
const DATABASE = 'shop';
const queuePrefix = `warden-fault-pg-${randomBytes(4).toString('hex')}`;
const testQueue = createTestQueue({ prefix: queuePrefix });
const { queue } = testQueue;

let postgres: PrivatePostgres;
let workDir: string;
let slack: HttpReceiver;
let api: WardenProcess | undefined;
let worker: WardenProcess | undefined;
let apiUrl: string;

/** The parts of API answers these tests read. */
interface ApiBody {
  jobId: string;
  state: string;
  status: string;
  services: Record<string, { status: string }>;
  backups: unknown[];
}

async function http(method: 'GET' | 'POST', route: string) {
  const response = await fetch(`${apiUrl}${route}`, {
    method,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
    },
    ...(method === 'POST' ? { body: '{}' } : {}),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: response.status, body: (await response.json()) as ApiBody };
}

async function jobState(id: string, wanted: string[]): Promise<ApiBody> {
  return waitFor(
    async () => {
      const { body } = await http('GET', `/api/admin/jobs/${encodeURIComponent(id)}`);
      return wanted.includes(body.state) ? body : undefined;
    },
    60_000,
    `job ${id} to reach ${wanted.join('/')}`,
  );
}

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'warden-fault-pg-'));
  postgres = await startPrivatePostgres();
  await postgres.sql('postgres', `CREATE DATABASE ${DATABASE}`);
  await postgres.sql(
    DATABASE,
    `CREATE TABLE items AS SELECT g AS id, 'item ' || g AS label FROM generate_series(1, 5000) AS g`,
  );
  slack = await startHttpReceiver();
});

afterAll(async () => {
  await api?.stop('SIGKILL');
  await worker?.stop('SIGKILL');
  await slack?.close();
  await testQueue.close();
  await postgres?.destroy();
  await rm(workDir, { recursive: true, force: true });
});

describe('PostgreSQL down, then up again', () => {
  it('alerts on the failed backup, reports unhealthy, and recovers once the server is back', async () => {
    const port = await freePort();
    apiUrl = `http://127.0.0.1:${port}`;
    const env = testEnv({
      DATABASE_URL: postgres.url(DATABASE),
      BACKUP_ENVIRONMENT: 'fault',
      REDIS_URL,
      QUEUE_PREFIX: queuePrefix,
      BACKUP_DIR: path.join(workDir, 'backups'),
      BACKUP_SPOOL_DIR: path.join(workDir, 'spool'),
      BACKUP_MIN_FREE_MB: '0',
      SLACK_WEBHOOK_URL: `${slack.url}/hooks/fault`,
      ALERT_THROTTLE_SECONDS: '0',
      PROBE_INTERVAL_SECONDS: '5',
      PORT: String(port),
      ADMIN_API_TOKEN: TOKEN,
      WORKER_METRICS_PORT: '0',
    });
    api = startWardenProcess('apps/api/src/main.ts', env);
    worker = startWardenProcess('apps/worker/src/main.ts', env);
    await api.waitForLine(/"msg":"api listening"/, 60_000);
    await worker.waitForLine(/"msg":"worker started"/, 60_000);

    // Healthy start: a good backup.
    const first = await http('POST', '/api/admin/backup');
    expect(first.status).toBe(202);
    expect((await jobState(first.body.jobId, ['completed', 'failed'])).state).toBe('completed');
    const healthyBefore = await http('GET', '/health/detailed');
    expect(healthyBefore.body.services.database?.status).toBe('healthy');

    await postgres.stop();

    // /health/detailed answers from the latest probe cycle (every 5 s here): 503 once a cycle saw it.
    const down = await waitFor(
      async () => {
        const detailed = await http('GET', '/health/detailed');
        return detailed.status === 503 ? detailed : undefined;
      },
      30_000,
      '/health/detailed to report the outage',
    );
    expect(down.body.status).toBe('unhealthy');
    expect(down.body.services.database?.status).toBe('unhealthy');

    // A backup now fails with a clear reason and a Slack failure alert; BullMQ will retry it later.
    slack.reset();
    const failing = await http('POST', '/api/admin/backup');
    expect(failing.status).toBe(202);
    const [alert] = await slack.waitFor(1, {
      timeoutMs: 30_000,
      filter: (request) => request.text.includes(`Backup of ${DATABASE} (fault) failed`),
    });
    expect(alert?.text).toContain('PREFLIGHT_CONNECT_FAILED');
    const retrying = await jobState(failing.body.jobId, ['delayed', 'failed']);
    expect(retrying.state).toBe('delayed');
    // The periodic probes raise the database condition.
    await slack.waitFor(1, {
      timeoutMs: 30_000,
      filter: (request) => request.text.includes(`Database connection failed: ${DATABASE}`),
    });

    await postgres.start();

    // Resolved: the probe is green again and the retry of the same job stores a backup.
    const up = await waitFor(
      async () => {
        const detailed = await http('GET', '/health/detailed');
        return detailed.body.services.database?.status === 'healthy' ? detailed : undefined;
      },
      30_000,
      'database healthy again',
    );
    expect(up.status).toBe(200);
    expect(up.body.status).not.toBe('unhealthy');
    // Skip the 60 s back-off of BACKUP_JOB_OPTIONS instead of sleeping through it.
    await (await queue.getJob(failing.body.jobId))?.promote();
    const done = await jobState(failing.body.jobId, ['completed', 'failed']);
    expect(done.state).toBe('completed');
    await slack.waitFor(1, {
      timeoutMs: 30_000,
      filter: (request) => request.text.includes(`Backup of ${DATABASE} (fault) succeeded`),
    });
    // The probes say so once: a single "Resolved" message for the database condition.
    await slack.waitFor(1, {
      timeoutMs: 30_000,
      filter: (request) => request.text.includes(`Resolved: Database connection failed: ${DATABASE}`),
    });
    const listed = await http('GET', `/api/admin/backups?target=${DATABASE}`);
    expect(listed.body.backups).toHaveLength(2);
    const resolved = slack.requests.filter((request) =>
      request.text.includes(`Resolved: Database connection failed: ${DATABASE}`),
    );
    expect(resolved).toHaveLength(1);
  });
});
