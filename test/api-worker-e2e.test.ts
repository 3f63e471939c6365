/**
 * Issue 4 end to end: the real API process and the real worker process. POST a backup, repeat the
 * POST while it runs (same job), follow the job to `completed`, find the backup in the catalog.
 */

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRedisConnection } from '@warden/queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writePgDumpWrapper } from './helpers/pg-dump-wrapper.js';
import { createTestDatabase, type TestDatabase } from './helpers/pg-fixtures.js';
import { startWardenFor, type WardenProcess, waitFor } from './helpers/processes.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const TOKEN = 'e2e-api-token-0123456789abcdef';
const queuePrefix = `warden-api-e2e-${randomBytes(4).toString('hex')}`;

let database: TestDatabase;
let workDir: string;
let apiUrl: string;
const processes: WardenProcess[] = [];

async function call(method: 'GET' | 'POST', route: string, body?: unknown) {
  const response = await fetch(`${apiUrl}${route}`, {
    method,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'warden-api-e2e-'));
  database = await createTestDatabase({ prefix: 'warden_api_e2e', seed: { orders: 20_000 } });
  // A pg_dump that takes a few seconds, so the second POST arrives while the first backup runs.
  const slowPgDump = writePgDumpWrapper(workDir, 'pg_dump_slow', 'sleep 3');
  const started = await startWardenFor({
    databaseUrl: database.url,
    workDir,
    environment: 'e2e',
    queuePrefix,
    pgDumpPath: slowPgDump,
    vars: { ADMIN_API_TOKEN: TOKEN },
  });
  apiUrl = started.url;
  processes.push(started.api, started.worker);
});

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  const redis = createRedisConnection({ url: REDIS_URL, role: 'worker' });
  const keys = await redis.keys(`${queuePrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
  await database?.drop();
  await rm(workDir, { recursive: true, force: true });
});

describe('POST /api/admin/backup through the real worker', () => {
  it('queues once, completes, and lists the backup with its checksum and size', async () => {
    // The whole-store listing builds its Redis index now, before the backup exists.
    expect((await call('GET', '/api/admin/backups?limit=5')).body.backups).toEqual([]);
    const first = await call('POST', '/api/admin/backup', { reason: 'e2e' });
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ target: database.name });
    const jobId = String(first.body.jobId);
    expect(first.body.statusUrl).toBe(`/api/admin/jobs/${jobId}`);

    await waitFor(
      async () =>
        (await call('GET', `/api/admin/jobs/${jobId}`)).body.state === 'active' ? true : undefined,
      20_000,
      'the backup to run',
    );
    const second = await call('POST', '/api/admin/backup', { target: database.name });
    expect(second.status).toBe(202);
    expect(second.body.jobId).toBe(jobId);

    const job = await waitFor(
      async () => {
        const { body } = await call('GET', `/api/admin/jobs/${jobId}`);
        return body.state === 'completed' || body.state === 'failed' ? body : undefined;
      },
      60_000,
      'the backup to finish',
    );
    expect(job.state).toBe('completed');
    const result = (job.result ?? job.returnvalue) as Record<string, unknown>;
    expect(result).toMatchObject({ status: 'success', target: database.name, environment: 'e2e' });

    const listed = await call('GET', `/api/admin/backups?target=${database.name}`);
    expect(listed.status).toBe(200);
    const backups = listed.body.backups as Record<string, unknown>[];
    expect(backups).toHaveLength(1);
    expect(backups[0]).toMatchObject({
      filename: result.filename,
      sha256: result.sha256,
      bytes: result.bytes,
      size_mb: result.size_mb,
      status: 'success',
    });
    expect(String(backups[0]?.sha256)).toMatch(/^[0-9a-f]{64}$/);
    // The worker added the new manifest to the index: the whole-store page shows it at once.
    const wholeStore = await call('GET', '/api/admin/backups?limit=5');
    expect((wholeStore.body.backups as { filename: string }[]).map((backup) => backup.filename)).toEqual([
      result.filename,
    ]);
  });
});
