import { appRoutes } from '@bull-board/api/dist/routes.js';
import { createRedisConnection, QUEUE_NAMES, type RedisConnection } from '@warden/queue';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, bearer, REDIS_URL, TEST_TOKEN } from '../helpers/api-fixtures.js';
import { type ApiProcess, rawRequest, startApiProcess } from '../helpers/api-process.js';

const VIEWER_TOKEN = 'test-viewer-token-fedcba9876543210';
const BOARD = '/admin/queues';

interface OpenApiDocument {
  paths: Record<string, Record<string, { description?: string; security?: Record<string, unknown>[] }>>;
}

/** The admin routes the OpenAPI description lists (it also lists the open /health and /metrics). */
function adminPaths(document: OpenApiDocument) {
  return Object.entries(document.paths).filter(([path]) => path.startsWith('/api/admin/'));
}

/** Fills Bull Board's and OpenAPI's path parameters with things that exist in this installation. */
function fillParams(route: string, jobId: string): string {
  return route
    .replace(/:queueName|\{queueName\}/g, QUEUE_NAMES.backups)
    .replace(/:jobId|\{jobId\}|\{id\}/g, encodeURIComponent(jobId))
    .replace(/:queueStatus/g, 'failed')
    .replace(/:schedulerId/g, 'probes')
    .replace(/\{[^}]+\}/g, 'x');
}

const boardApiRoutes = appRoutes.api.flatMap((route) =>
  [route.route]
    .flat()
    .flatMap((path) => [route.method].flat().map((method) => ({ method: method.toUpperCase(), path }))),
);

describe('VIEWER_API_TOKEN against the real API process', () => {
  let api: ApiProcess;
  let redis: RedisConnection;
  let backups: Queue;
  let jobId: string;
  let openApi: OpenApiDocument;

  beforeAll(async () => {
    api = await startApiProcess('viewer', {
      ADMIN_API_TOKEN: TEST_TOKEN,
      VIEWER_API_TOKEN: VIEWER_TOKEN,
      BULL_BOARD_READ_ONLY: 'false',
    });
    redis = createRedisConnection({ url: REDIS_URL, role: 'producer' });
    redis.on('error', () => undefined);
    backups = new Queue(QUEUE_NAMES.backups, { connection: redis, prefix: api.prefix });
    backups.on('error', () => undefined);
    const queued = await rawRequest(`${api.url}/api/admin/backup`, {
      method: 'POST',
      headers: bearer(),
      body: '{}',
    });
    expect(queued.status).toBe(202);
    jobId = queued.json<{ jobId: string }>().jobId;
    const docs = await rawRequest(`${api.url}/docs/json`, { headers: bearer() });
    expect(docs.status).toBe(200);
    openApi = docs.json<OpenApiDocument>();
  });

  afterAll(async () => {
    await backups?.close();
    await redis?.quit();
    await api?.close();
  });

  it('reads every GET route of the admin API that the OpenAPI description lists', async () => {
    // Every GET a viewer may make: the description says so in `security` (a backup download, for
    // one, is an admin-only read).
    const viewerMay = (operation: { security?: Record<string, unknown>[] }) =>
      (operation.security ?? []).some((scheme) => 'viewerAuth' in scheme);
    const reads = adminPaths(openApi).flatMap(([path, operations]) =>
      Object.entries(operations)
        .filter(([method, operation]) => method === 'get' && viewerMay(operation))
        .map(() => path),
    );
    const adminOnlyReads = adminPaths(openApi).flatMap(([path, operations]) =>
      Object.entries(operations)
        .filter(([method, operation]) => method === 'get' && !viewerMay(operation))
        .map(() => path),
    );
    expect(adminOnlyReads).toEqual(['/api/admin/backups/{target}/{file}/download']);
    for (const path of adminOnlyReads) {
      const response = await rawRequest(`${api.url}${fillParams(path, jobId)}`, {
        headers: bearer(VIEWER_TOKEN),
      });
      expect(response.status, `GET ${path}: ${response.body}`).toBe(403);
    }
    expect(reads).toEqual(expect.arrayContaining(['/api/admin/backups', '/api/admin/jobs/{id}']));
    for (const path of reads) {
      const response = await rawRequest(`${api.url}${fillParams(path, jobId)}`, {
        headers: bearer(VIEWER_TOKEN),
      });
      expect([401, 403], `GET ${path}: ${response.body}`).not.toContain(response.status);
      expect(response.status, `GET ${path}: ${response.body}`).toBeLessThan(500);
    }
    const job = await rawRequest(`${api.url}/api/admin/jobs/${encodeURIComponent(jobId)}`, {
      headers: bearer(VIEWER_TOKEN),
    });
    expect(job.status).toBe(200);
    expect(job.json()).toMatchObject({ id: jobId, state: 'waiting' });
    for (const path of ['/api/admin/backups', '/api/admin/targets', '/api/admin/schedules']) {
      expect((await rawRequest(`${api.url}${path}`, { headers: bearer(VIEWER_TOKEN) })).status, path).toBe(
        200,
      );
    }
  });

  it('gets 403 FORBIDDEN on every state-changing admin route, and nothing is queued', async () => {
    const writes = adminPaths(openApi).flatMap(([path, operations]) =>
      Object.keys(operations)
        .filter((method) => !['get', 'head'].includes(method))
        .map((method) => ({ method: method.toUpperCase(), path })),
    );
    expect(writes).toEqual(
      expect.arrayContaining([
        { method: 'POST', path: '/api/admin/backup' },
        { method: 'POST', path: '/api/admin/backup/restore' },
      ]),
    );
    const before = await backups.getJobCounts();
    for (const { method, path } of writes) {
      const response = await rawRequest(`${api.url}${fillParams(path, jobId)}`, {
        method,
        headers: bearer(VIEWER_TOKEN),
        body: JSON.stringify({ target: 'test', file: 'latest' }),
      });
      expect(response.status, `${method} ${path}`).toBe(403);
      expect(response.json()).toEqual({
        error: { code: 'FORBIDDEN', message: expect.stringContaining('VIEWER_API_TOKEN is read-only') },
      });
    }
    expect(await backups.getJobCounts()).toEqual(before);
  });

  it('documents which token each admin route needs', () => {
    for (const [path, operations] of adminPaths(openApi)) {
      for (const [method, operation] of Object.entries(operations)) {
        // Reads are open to viewers, except the admin-only ones (a backup download).
        const read = method === 'get' && !path.endsWith('/download');
        expect(operation.description, `${method} ${path}`).toContain(
          read
            ? 'Needs ADMIN_API_TOKEN or VIEWER_API_TOKEN'
            : 'Needs ADMIN_API_TOKEN (VIEWER_API_TOKEN gets 403',
        );
        expect(operation.security, `${method} ${path}`).toEqual(
          read ? [{ bearerAuth: [] }, { viewerAuth: [] }] : [{ bearerAuth: [] }],
        );
      }
    }
  });

  it('opens the docs and Bull Board with Basic credentials, the board read-only', async () => {
    for (const path of ['/docs', '/docs/json', BOARD, `${BOARD}/queue/${QUEUE_NAMES.backups}`]) {
      const response = await rawRequest(`${api.url}${path}`, { headers: basic(VIEWER_TOKEN, 'viewer') });
      // /docs redirects to its static page.
      expect([200, 302], path).toContain(response.status);
    }
    const asViewer = await rawRequest(`${api.url}${BOARD}/api/queues`, { headers: basic(VIEWER_TOKEN) });
    expect(asViewer.status).toBe(200);
    const viewerQueues = asViewer.json<{
      queues: { name: string; readOnlyMode: boolean; allowRetries: boolean }[];
    }>().queues;
    expect(viewerQueues.map((queue) => queue.name).sort()).toEqual(
      [QUEUE_NAMES.backups, QUEUE_NAMES.probes, QUEUE_NAMES.restores].sort(),
    );
    for (const queue of viewerQueues)
      expect(queue).toMatchObject({ readOnlyMode: true, allowRetries: false });
    // The admin sees the writable board BULL_BOARD_READ_ONLY=false asks for.
    const asAdmin = await rawRequest(`${api.url}${BOARD}/api/queues`, { headers: basic() });
    for (const queue of asAdmin.json<{ queues: { readOnlyMode: boolean }[] }>().queues) {
      expect(queue.readOnlyMode).toBe(false);
    }
  });

  it("reads every GET route of Bull Board's API", async () => {
    const reads = boardApiRoutes.filter((route) => route.method === 'GET');
    expect(reads.length).toBeGreaterThan(5);
    for (const { path } of reads) {
      const response = await rawRequest(`${api.url}${BOARD}${fillParams(path, jobId)}`, {
        headers: bearer(VIEWER_TOKEN),
      });
      expect([401, 403], `GET ${path}: ${response.body}`).not.toContain(response.status);
      expect(response.status, `GET ${path}: ${response.body}`).toBeLessThan(500);
    }
  });

  it("gets 403 FORBIDDEN on every state-changing route of Bull Board's, which stay undone", async () => {
    const writes = boardApiRoutes.filter((route) => route.method !== 'GET');
    expect(writes.map((route) => route.path)).toEqual(
      expect.arrayContaining(['/api/queues/:queueName/add', '/api/queues/:queueName/obliterate']),
    );
    const before = await backups.getJobCounts();
    for (const { method, path } of writes) {
      const response = await rawRequest(`${api.url}${BOARD}${fillParams(path, jobId)}`, {
        method,
        headers: basic(VIEWER_TOKEN),
        body: JSON.stringify({ name: 'backup.create', data: {} }),
      });
      expect(response.status, `${method} ${path}: ${response.body}`).toBe(403);
      expect(response.json().error).toMatchObject({ code: 'FORBIDDEN' });
    }
    expect(await backups.getJobCounts()).toEqual(before);
    expect(await backups.isPaused()).toBe(false);
    expect(await backups.getJob(jobId)).toBeDefined();

    // The same requests are the admin's to make: pausing with the admin token works.
    const pause = await rawRequest(`${api.url}${BOARD}/api/queues/${QUEUE_NAMES.backups}/pause`, {
      method: 'PUT',
      headers: basic(),
    });
    expect(pause.status).toBe(200);
    expect(await backups.isPaused()).toBe(true);
    await backups.resume();
  });

  it('still refuses a wrong token and keeps /health open', async () => {
    const wrong = await rawRequest(`${api.url}/api/admin/targets`, { headers: bearer(`${VIEWER_TOKEN}x`) });
    expect(wrong.status).toBe(401);
    expect((await rawRequest(`${api.url}/health`)).status).toBe(200);
  });

  it('never logs either token', () => {
    const output = api.process.lines.join('\n');
    expect(output).not.toContain(VIEWER_TOKEN);
    expect(output).not.toContain(TEST_TOKEN);
  });
});
