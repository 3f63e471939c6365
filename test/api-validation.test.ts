import { createRedisConnection } from '@warden/queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ApiFixture,
  bearer,
  createApiFixture,
  createTestQueues,
  deleteKeys,
  makeTarget,
  REDIS_URL,
  uniquePrefix,
} from './helpers/api-fixtures.js';

function post(fixture: ApiFixture, url: string, payload: string | object, contentType = 'application/json') {
  return fixture.app.inject({
    method: 'POST',
    url,
    headers: { ...bearer(), 'content-type': contentType },
    payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });
}

describe('admin input validation', () => {
  let fixture: ApiFixture;
  beforeAll(async () => {
    fixture = await createApiFixture({
      name: 'validation',
      targets: [makeTarget('app'), makeTarget('billing')],
    });
  });
  afterAll(async () => {
    await fixture?.close();
  });

  it('answers malformed JSON with 400 INVALID_BODY', async () => {
    for (const body of ['{"target": "app",', '{target: app}', 'nul']) {
      const response = await post(fixture, '/api/admin/backup', body);
      expect(response.statusCode, body).toBe(400);
      expect(response.json()).toEqual({
        error: { code: 'INVALID_BODY', message: 'the request body is not valid JSON' },
      });
    }
    const empty = await post(fixture, '/api/admin/backup', '');
    expect(empty.statusCode).toBe(400);
    expect(empty.json().error.code).toBe('INVALID_BODY');
  });

  it('rejects wrong types without coercing them, naming the field', async () => {
    const cases: [string, object, string][] = [
      ['/api/admin/backup', { target: 5 }, 'body.target must be string'],
      ['/api/admin/backup', { target: 'app', reason: ['x'] }, 'body.reason must be string'],
      [
        '/api/admin/backup/restore',
        { file: 'latest', target: 'app', dryRun: 'true' },
        'body.dryRun must be boolean',
      ],
      [
        '/api/admin/backup/restore',
        { file: 'latest', target: 'app', overwrite: 1 },
        'body.overwrite must be boolean',
      ],
      ['/api/admin/backup/restore', { file: 7, target: 'app' }, 'body.file must be string'],
    ];
    for (const [url, body, message] of cases) {
      const response = await post(fixture, url, body);
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
      const error = response.json().error;
      expect(error.code).toBe('VALIDATION_FAILED');
      expect(error.message).toContain(message);
    }
    const array = await post(fixture, '/api/admin/backup', []);
    expect(array.statusCode).toBe(400);
    expect(array.json().error.message).toBe('body must be object');
  });

  it('rejects unknown fields by name instead of dropping them', async () => {
    const response = await post(fixture, '/api/admin/backup', { target: 'app', force: true });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({
      error: {
        code: 'VALIDATION_FAILED',
        message: 'body.force is not allowed (unknown field)',
        fields: [{ field: 'body.force', message: 'body.force is not allowed (unknown field)' }],
      },
    });
    const restore = await post(fixture, '/api/admin/backup/restore', {
      file: 'latest',
      target: 'app',
      drop: 1,
    });
    expect(restore.statusCode).toBe(400);
    expect(restore.json().error.message).toBe('body.drop is not allowed (unknown field)');
    const query = await fixture.app.inject({ url: '/api/admin/backups?page=2', headers: bearer() });
    expect(query.statusCode).toBe(400);
    expect(query.json().error.message).toBe('querystring.page is not allowed (unknown field)');
  });

  it('reports every problem at once', async () => {
    const response = await post(fixture, '/api/admin/backup/restore', {
      target: 3,
      extra: true,
      dryRun: 'no',
    });
    expect(response.statusCode).toBe(400);
    const fields = response
      .json()
      .error.fields.map((problem: { field: string }) => problem.field)
      .sort();
    expect(fields).toEqual(['body.dryRun', 'body.extra', 'body.file', 'body.target']);
    expect(response.json().error.message).toContain('body.file is required');
  });

  it('refuses file names with path separators or ".."', async () => {
    for (const file of [
      '../etc/passwd',
      'app/app_test_20250101_000000.sql.gz',
      '..',
      'a..b.sql.gz',
      '..\\secret',
      'x\\y.sql.gz',
      '/abs.sql.gz',
      '.hidden',
      '',
    ]) {
      const response = await post(fixture, '/api/admin/backup/restore', { file, target: 'app' });
      expect(response.statusCode, file).toBe(400);
      const error = response.json().error;
      expect(error.code).toBe('VALIDATION_FAILED');
      expect(error.message).toMatch(/^body\.file must be "latest" or a backup file name/);
      // The rejected value is never echoed back.
      if (file.length > 2) expect(error.message).not.toContain(file);
    }
  });

  it('checks names of targets and databases', async () => {
    const target = await post(fixture, '/api/admin/backup', { target: 'app; DROP' });
    expect(target.statusCode).toBe(400);
    expect(target.json().error.message).toMatch(/^body\.target must be a target name/);
    const database = await post(fixture, '/api/admin/backup/restore', {
      file: 'latest',
      target: 'app',
      database: 'x\n; drop database y; --',
    });
    expect(database.statusCode).toBe(400);
    expect(database.json().error.message).toMatch(/^body\.database must be a database name/);
    const reason = await post(fixture, '/api/admin/backup', { target: 'app', reason: 'x'.repeat(201) });
    expect(reason.statusCode).toBe(400);
    expect(reason.json().error.message).toBe('body.reason must NOT have more than 200 characters');
  });

  it('validates query strings and path parameters', async () => {
    for (const [url, message] of [
      ['/api/admin/backups?limit=0', 'querystring.limit must be a whole number from 1 to 500'],
      ['/api/admin/backups?limit=501', 'querystring.limit must be a whole number from 1 to 500'],
      ['/api/admin/backups?limit=ten', 'querystring.limit must be a whole number from 1 to 500'],
      ['/api/admin/backups?target=../x', 'querystring.target must be a target name'],
      [
        '/api/admin/backups?before=not-a-time',
        'querystring.before must be an ISO-8601 time or a backup file name',
      ],
      ['/api/admin/jobs/..%2F..%2Fetc', 'params.id must be a job id'],
    ] as const) {
      const response = await fixture.app.inject({ url, headers: bearer() });
      expect(response.statusCode, url).toBe(400);
      expect(response.json().error.message, url).toContain(message);
    }
  });

  it('refuses a 10 MB body with 413 in the error shape, before reading it', async () => {
    const huge = JSON.stringify({ target: 'app', reason: 'x'.repeat(10 * 1024 * 1024) });
    const response = await post(fixture, '/api/admin/backup', huge);
    expect(response.statusCode).toBe(413);
    expect(response.json()).toEqual({ error: { code: 'BODY_TOO_LARGE', message: expect.any(String) } });
  });

  it('answers other content types in the error shape', async () => {
    const text = await post(fixture, '/api/admin/backup', 'target=app', 'text/plain');
    expect(text.statusCode).toBe(400);
    expect(text.json().error.message).toBe('body must be object');
    const xml = await post(fixture, '/api/admin/backup', '<target>app</target>', 'application/xml');
    expect(xml.statusCode).toBe(415);
    expect(xml.json().error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('answers unknown routes and methods with 404 in the error shape', async () => {
    const unknown = await fixture.app.inject({ url: '/api/admin/nope', headers: bearer() });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'no route GET /api/admin/nope' } });
    const method = await fixture.app.inject({
      method: 'DELETE',
      url: '/api/admin/targets',
      headers: bearer(),
    });
    expect(method.statusCode).toBe(404);
    expect(method.json().error.code).toBe('NOT_FOUND');
  });

  it('answers a failing dependency with 500 or 503 in the error shape, without a stack', async () => {
    fixture.health.report = new Error('boom at /secret/path.ts:12');
    const health = await fixture.app.inject({ url: '/health/detailed' });
    expect(health.statusCode).toBe(503);
    expect(health.json().status).toBe('unhealthy');
    expect(health.body).not.toContain('/secret/path.ts');

    // Queues whose Redis connection is gone, as in a Redis outage.
    const deadPrefix = uniquePrefix('validation-dead');
    const dead = createTestQueues(deadPrefix);
    await Promise.all(Object.values(dead.queues).map((queue) => queue.waitUntilReady()));
    dead.connection.disconnect();
    const broken = await createApiFixture({ name: 'validation-broken', queues: dead.queues });
    try {
      const response = await broken.app.inject({
        method: 'POST',
        url: '/api/admin/backup',
        headers: bearer(),
        payload: { target: 'app' },
      });
      expect(response.statusCode).toBe(503);
      expect(response.json()).toEqual({
        error: {
          code: 'SERVICE_UNAVAILABLE',
          message: 'the queue backend (Redis) is unavailable; try again',
        },
      });
      expect(response.body).not.toMatch(/\bat .+\.(ts|js):\d+/);
    } finally {
      await broken.close();
      await Promise.all(Object.values(dead.queues).map((queue) => queue.close().catch(() => undefined)));
      const cleaner = createRedisConnection({ url: REDIS_URL, role: 'producer' });
      cleaner.on('error', () => undefined);
      await deleteKeys(cleaner, deadPrefix);
      await cleaner.quit();
    }
  });
});
