/**
 * Issue 5: secrets planted in the configuration (database password, S3 secret key, Slack webhook
 * URL, admin token) never appear in what leaves the processes: their logs, Slack payloads, Sentry
 * envelopes, or what they store in Redis (job hashes, alert state). The real API and worker run
 * with those secrets and are driven through their failure paths, where leaks usually happen:
 * a rejected S3 signature, an unreachable database, a 5xx answer, a wrong token.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRedisConnection, QUEUE_NAMES } from '@warden/queue';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type SentryReceiver,
  type SlackReceiver,
  startSentryReceiver,
  startSlackReceiver,
} from './helpers/alerts-receivers.js';
import { uniquePrefix } from './helpers/api-fixtures.js';
import { createTestDatabase, type TestDatabase, withClient } from './helpers/pg-fixtures.js';
import { startWardenProcess, testEnv, type WardenProcess, waitFor } from './helpers/processes.js';
import { deleteKeysUnder, keysUnder } from './helpers/queues.js';
import { S3RVER_REGION, type S3TestServer, startS3Server } from './helpers/s3-server.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const BUCKET = 'warden-secrets';
const tag = () => randomBytes(9).toString('hex');
/** Trust authentication accepts any password, so this one is used for real and never checked. */
const DB_PASSWORD = `PgPlanted${tag()}`;
/**
 * Signs every S3 request. s3rver does not check SigV4 signatures, so the failure path comes from
 * an access key id it does not know (InvalidAccessKeyId, 403) while this secret is used for signing.
 */
const S3_SECRET = `S3Planted${tag()}`;
const S3_UNKNOWN_ACCESS_KEY = 'WARDENUNKNOWNKEY';
const ADMIN_TOKEN = `AdminPlanted${tag()}`;

const prefix = uniquePrefix('secrets');
const redis = createRedisConnection({ url: REDIS_URL, role: 'worker' }) as Redis;
redis.on('error', () => undefined);
let workDir: string;
let database: TestDatabase;
let slack: SlackReceiver;
let sentry: SentryReceiver;
let s3: S3TestServer;
let api: WardenProcess;
let apiUrl: string;
let worker: WardenProcess;

function secrets(): Record<string, string> {
  return {
    'database password': DB_PASSWORD,
    'S3 secret key': S3_SECRET,
    'admin token': ADMIN_TOKEN,
    'webhook URL': slack.webhookUrl,
    'webhook URL secret path': slack.secretPath,
  };
}

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'warden-secrets-'));
  database = await createTestDatabase({ prefix: 'warden_secrets', seed: false });
  await withClient(database.name, (client) =>
    client.query(
      `CREATE TABLE notes AS SELECT i AS id, md5(i::text) AS body FROM generate_series(1, 500) AS i`,
    ),
  );
  slack = await startSlackReceiver();
  sentry = await startSentryReceiver();
  s3 = await startS3Server({ buckets: [BUCKET] });
  // Two targets with the password in their URL: one reachable, one on a closed port.
  const targetsFile = path.join(workDir, 'targets.yml');
  writeFileSync(
    targetsFile,
    [
      'targets:',
      `  - name: ${database.name}`,
      `    url: postgres://postgres:${DB_PASSWORD}@127.0.0.1:5432/${database.name}`,
      '  - name: pgdown',
      `    url: postgres://postgres:${DB_PASSWORD}@127.0.0.1:1/pgdown`,
      '',
    ].join('\n'),
  );
  const env = (extra: Record<string, string>) =>
    testEnv({
      WARDEN_CONFIG: targetsFile,
      BACKUP_ENVIRONMENT: 'secrets',
      BACKUP_S3_BUCKET: BUCKET,
      AWS_REGION: S3RVER_REGION,
      AWS_ACCESS_KEY_ID: S3_UNKNOWN_ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: S3_SECRET,
      S3_ENDPOINT: s3.endpoint,
      BACKUP_SPOOL_DIR: path.join(workDir, 'spool'),
      UPLOAD_RETRY_ATTEMPTS: '1',
      UPLOAD_RETRY_DELAY_MS: '300',
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      ADMIN_API_TOKEN: ADMIN_TOKEN,
      SLACK_WEBHOOK_URL: slack.webhookUrl,
      SENTRY_DSN: sentry.dsn,
      PROBE_INTERVAL_SECONDS: '5',
      PORT: '0',
      WORKER_METRICS_PORT: '0',
      // The most verbose level: every log line is a chance to leak.
      LOG_LEVEL: 'trace',
      ...extra,
    });
  worker = startWardenProcess('apps/worker/src/main.ts', env({}));
  api = startWardenProcess('apps/api/src/main.ts', env({}));
  await worker.waitForLine(/"msg":"worker started"/, 60_000);
  const listening = await api.waitForLine(/"msg":"api listening"/, 60_000);
  apiUrl = `http://127.0.0.1:${new URL(String((JSON.parse(listening) as { address: string }).address)).port}`;
});

afterAll(async () => {
  await Promise.all([worker?.stop('SIGKILL'), api?.stop('SIGKILL')]);
  await deleteKeysUnder(redis, prefix);
  await redis.quit();
  await s3?.stop();
  await slack?.receiver.close();
  await sentry?.receiver.close();
  await database?.drop();
  await rm(workDir, { recursive: true, force: true });
});

async function admin(method: string, route: string, body?: unknown, token = ADMIN_TOKEN): Promise<Response> {
  return fetch(`${apiUrl}${route}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function jobState(id: string): Promise<string> {
  const response = await admin('GET', `/api/admin/jobs/${encodeURIComponent(id)}`);
  return ((await response.json()) as { state: string }).state;
}

/** Every value stored under the installation's prefix: job hashes, alert state, throttle keys. */
async function redisContents(): Promise<string> {
  const parts: string[] = [];
  for (const key of await keysUnder(redis, prefix)) {
    const type = await redis.type(key);
    if (type === 'hash') parts.push(key, JSON.stringify(await redis.hgetall(key)));
    else if (type === 'string') parts.push(key, (await redis.get(key)) ?? '');
    else if (type === 'list') parts.push(key, JSON.stringify(await redis.lrange(key, 0, -1)));
    else if (type === 'zset') parts.push(key, JSON.stringify(await redis.zrange(key, 0, '-1')));
    else if (type === 'stream') parts.push(key, JSON.stringify(await redis.xrange(key, '-', '+')));
    else parts.push(key);
  }
  return parts.join('\n');
}

describe('planted secrets never leave the processes', () => {
  it('drives the API and the worker through their failure paths, then finds no secret anywhere', async () => {
    // Backups through the API: upload refused by S3 (unknown key), and a database that is down.
    const upload = await admin('POST', '/api/admin/backup', { target: database.name });
    expect(upload.status).toBe(202);
    const uploadJob = ((await upload.json()) as { jobId: string }).jobId;
    const down = await admin('POST', '/api/admin/backup', { target: 'pgdown' });
    const downJob = ((await down.json()) as { jobId: string }).jobId;
    // Listing backups needs S3, which refuses the key: a 5xx the API reports to Sentry.
    const list = await admin('GET', '/api/admin/backups');
    expect(list.status).toBeGreaterThanOrEqual(500);
    expect(await list.text()).not.toContain(S3_SECRET);
    // A wrong token, and the token's neighbour in a URL.
    expect((await admin('GET', '/api/admin/targets', undefined, `${ADMIN_TOKEN}x`)).status).toBe(401);
    expect((await fetch(`${apiUrl}/health/detailed?token=${ADMIN_TOKEN}`)).status).toBeGreaterThanOrEqual(
      200,
    );

    await waitFor(
      async () => ((await jobState(uploadJob)) === 'failed' ? true : undefined),
      60_000,
      'upload job',
    );
    // The database-down job keeps BullMQ's retry policy; its first failure is what matters here.
    await waitFor(
      async () => (worker.lines.some((line) => line.includes(`"jobId":"${downJob}"`)) ? true : undefined),
      30_000,
      'pg-down job to fail',
    );

    // What must have arrived, so that the scan below is not vacuous.
    const uploadAlerts = await slack.waitForMessages((m) => m.key.startsWith('backup-upload-'), 2, 15_000);
    expect(uploadAlerts.map((m) => m.text).join('\n')).toMatch(
      /InvalidAccessKeyId|Access Key Id|denied|403/i,
    );
    await slack.waitForMessages((m) => m.key === 'backup-failed:pgdown', 1, 15_000);
    await slack.waitForMessages((m) => m.key === 'health:database:pgdown', 1, 30_000);
    const workerEvent = await sentry.waitForEvents((e) => e.event.tags?.job_id === uploadJob, 1, 15_000);
    expect(workerEvent[0]?.event.tags).toMatchObject({ queue: QUEUE_NAMES.backups, target: database.name });
    const apiEvent = await sentry.waitForEvents((e) => e.event.tags?.service === 'api', 1, 15_000);
    // Captured by the API's error handler, with the route template and the error code.
    expect(apiEvent[0]?.event.contexts).toMatchObject({
      details: { method: 'GET', route: '/api/admin/backups', status: list.status },
    });
    const jobHash = await redis.hgetall(`${prefix}:${QUEUE_NAMES.backups}:${uploadJob}`);
    expect(jobHash.failedReason).toMatch(/upload failed after 2 attempts/);

    // Shut both down cleanly so that their last log lines (and Sentry flushes) are captured too.
    expect(await api.stop()).toBe(0);
    expect(await worker.stop()).toBe(0);
    // Once: Sentry's own Fastify capture would add a second, context-free copy.
    expect(sentry.events().filter((e) => e.event.tags?.service === 'api')).toHaveLength(1);

    const captured: Record<string, string> = {
      'API logs': api.lines.join('\n'),
      'worker logs': worker.lines.join('\n'),
      'Slack payloads': slack.receiver.requests.map((request) => request.text).join('\n'),
      'Sentry envelopes': sentry.receiver.requests
        .map((request) => `${request.url}\n${request.text}`)
        .join('\n'),
      'Redis contents': await redisContents(),
    };
    expect(captured['API logs']).toContain('probe runner started');
    expect(captured['worker logs']).toContain('upload failed');
    expect(captured['Redis contents']).toContain(uploadJob);
    // Controls: the secrets were really in play (the webhook was called on its secret path, the
    // token was sent in a query string the API logs at trace level).
    expect(slack.receiver.requests.every((request) => request.url.endsWith(slack.secretPath))).toBe(true);
    expect(captured['API logs']).toContain('/health/detailed?token=');
    const leaks: string[] = [];
    for (const [where, text] of Object.entries(captured)) {
      expect(text.length, where).toBeGreaterThan(100);
      for (const [what, secret] of Object.entries(secrets())) {
        for (const form of new Set([secret, encodeURIComponent(secret)])) {
          if (text.includes(form)) leaks.push(`${what} in ${where}`);
        }
      }
    }
    expect(leaks).toEqual([]);
  });
});
