import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertSafeBinding, isLoopbackHost } from '../apps/api/src/plugins/auth.js';
import { type ApiFixture, basic, bearer, createApiFixture, TEST_TOKEN } from './helpers/api-fixtures.js';

/** Every guarded route; a body that would pass validation, so only auth can refuse it. */
const GUARDED: { method: 'GET' | 'POST'; url: string; payload?: object }[] = [
  { method: 'POST', url: '/api/admin/backup', payload: {} },
  { method: 'GET', url: '/api/admin/backups' },
  { method: 'GET', url: '/api/admin/jobs/backup-app-1' },
  { method: 'POST', url: '/api/admin/backup/restore', payload: { file: 'latest' } },
  { method: 'GET', url: '/api/admin/schedules' },
  { method: 'GET', url: '/api/admin/targets' },
  { method: 'GET', url: '/admin/queues' },
  { method: 'GET', url: '/admin/queues/api/queues' },
  { method: 'GET', url: '/docs' },
  { method: 'GET', url: '/docs/json' },
];

function request(
  app: FastifyInstance,
  route: (typeof GUARDED)[number],
  headers: Record<string, string> = {},
) {
  return app.inject({
    method: route.method,
    url: route.url,
    headers,
    ...(route.payload ? { payload: route.payload } : {}),
  });
}

describe('admin authentication', () => {
  let fixture: ApiFixture;
  beforeAll(async () => {
    // Every case below fails to log in from one address: lift the brute-force guard (tested below).
    fixture = await createApiFixture({ name: 'auth', env: { API_AUTH_FAILURES_PER_MINUTE: '100000' } });
  });
  afterAll(async () => {
    await fixture?.close();
  });

  it.each(GUARDED)('$method $url answers 401 without a token', async (route) => {
    const response = await request(fixture.app, route);
    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({ error: { code: 'UNAUTHORIZED', message: expect.any(String) } });
    expect(response.headers['www-authenticate']).toMatch(/realm="Warden"/);
  });

  it.each(GUARDED)('$method $url answers 401 with a wrong token', async (route) => {
    for (const headers of [
      bearer('wrong-token-0123456789abcdef'),
      bearer(`${TEST_TOKEN}x`),
      bearer(TEST_TOKEN.slice(0, -1)),
      { authorization: TEST_TOKEN },
      { authorization: 'Bearer' },
    ]) {
      const response = await request(fixture.app, route, headers);
      expect(response.statusCode, JSON.stringify(headers)).toBe(401);
      expect(response.json().error.code).toBe('UNAUTHORIZED');
    }
  });

  it.each(GUARDED)('$method $url lets the right bearer token through', async (route) => {
    const response = await request(fixture.app, route, bearer());
    expect(response.statusCode).not.toBe(401);
    expect(response.statusCode).not.toBe(403);
    expect(response.statusCode).toBeLessThan(500);
  });

  it('accepts HTTP Basic (any user, token as password) on Bull Board and the docs only', async () => {
    for (const url of ['/admin/queues', '/admin/queues/api/queues', '/docs/json']) {
      const ok = await fixture.app.inject({ url, headers: basic(TEST_TOKEN, 'whoever') });
      expect(ok.statusCode, url).toBe(200);
      const wrong = await fixture.app.inject({ url, headers: basic('nope-nope-nope-nope', 'admin') });
      expect(wrong.statusCode, url).toBe(401);
      expect(wrong.headers['www-authenticate']).toBe('Basic realm="Warden", charset="UTF-8"');
    }
    const api = await fixture.app.inject({ url: '/api/admin/targets', headers: basic() });
    expect(api.statusCode).toBe(401);
    expect(api.headers['www-authenticate']).toBe('Bearer realm="Warden"');
  });

  it('never logs the token', async () => {
    await fixture.app.inject({ url: '/api/admin/targets', headers: bearer() });
    await fixture.app.inject({ url: '/admin/queues', headers: basic() });
    expect(fixture.logLines.length).toBeGreaterThan(0);
    expect(fixture.logLines.join('')).not.toContain(TEST_TOKEN);
    expect(fixture.logLines.join('')).not.toContain(Buffer.from(`admin:${TEST_TOKEN}`).toString('base64'));
  });

  it('leaves health and metrics open', async () => {
    expect((await fixture.app.inject({ url: '/health' })).statusCode).toBe(200);
    expect((await fixture.app.inject({ url: '/health/detailed' })).statusCode).toBe(200);
    expect((await fixture.app.inject({ url: '/metrics' })).statusCode).toBe(200);
  });

  it('sends security headers, with a CSP that allows Bull Board its own scripts only', async () => {
    const response = await fixture.app.inject({ url: '/admin/queues', headers: basic() });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/text\/html/);
    const csp = String(response.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-eval');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['x-frame-options']).toBe('SAMEORIGIN');
  });
});

describe('admin surface without ADMIN_API_TOKEN', () => {
  let fixture: ApiFixture;
  beforeAll(async () => {
    fixture = await createApiFixture({ name: 'notoken', token: null });
  });
  afterAll(async () => {
    await fixture?.close();
  });

  it('serves loopback clients and refuses any other address', async () => {
    const local = await fixture.app.inject({ url: '/api/admin/targets', remoteAddress: '127.0.0.1' });
    expect(local.statusCode).toBe(200);
    const local6 = await fixture.app.inject({ url: '/admin/queues', remoteAddress: '::1' });
    expect(local6.statusCode).toBe(200);
    for (const url of ['/api/admin/targets', '/admin/queues', '/docs/json']) {
      const remote = await fixture.app.inject({ url, remoteAddress: '10.1.2.3' });
      expect(remote.statusCode, url).toBe(403);
      expect(remote.json().error.code).toBe('FORBIDDEN');
    }
  });

  it('logged a warning at start-up', () => {
    expect(fixture.logLines.some((line) => line.includes('ADMIN_API_TOKEN is not set'))).toBe(true);
  });

  it('refuses to bind anything but loopback', () => {
    expect(() => assertSafeBinding('127.0.0.1', undefined)).not.toThrow();
    expect(() => assertSafeBinding('::1', undefined)).not.toThrow();
    expect(() => assertSafeBinding('localhost', undefined)).not.toThrow();
    expect(() => assertSafeBinding('0.0.0.0', undefined)).toThrow(/ADMIN_API_TOKEN/);
    expect(() => assertSafeBinding('::', undefined)).toThrow(/ADMIN_API_TOKEN/);
    expect(() => assertSafeBinding('192.168.1.10', undefined)).toThrow(/ADMIN_API_TOKEN/);
    expect(() => assertSafeBinding('0.0.0.0', TEST_TOKEN)).not.toThrow();
    expect(isLoopbackHost('[::1]')).toBe(true);
    expect(isLoopbackHost('127.10.0.1')).toBe(true);
    expect(isLoopbackHost('128.0.0.1')).toBe(false);
  });
});

describe('rate limiting', () => {
  let fixture: ApiFixture;
  beforeAll(async () => {
    fixture = await createApiFixture({
      name: 'ratelimit',
      env: { API_RATE_LIMIT_PER_MINUTE: '5', API_AUTH_FAILURES_PER_MINUTE: '3' },
    });
  });
  afterAll(async () => {
    await fixture?.close();
  });

  it('answers 429 to failed logins past their budget, but never to the valid token', async () => {
    const guesses: number[] = [];
    for (let i = 0; i < 5; i++) {
      guesses.push(
        (await fixture.app.inject({ url: '/api/admin/targets', headers: bearer('guess-guess-guess-guess') }))
          .statusCode,
      );
    }
    expect(guesses).toEqual([401, 401, 401, 429, 429]);
    const limited = await fixture.app.inject({ url: '/admin/queues', headers: basic('nope-nope-nope') });
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toEqual({
      error: { code: 'RATE_LIMITED', message: expect.stringMatching(/too many failed authentications/) },
    });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect((await fixture.app.inject({ url: '/api/admin/targets', headers: bearer() })).statusCode).toBe(200);
  });

  it('gives authenticated requests their own budget per role and client address', async () => {
    const headers = bearer();
    const remoteAddress = '127.0.0.2';
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      statuses.push(
        (await fixture.app.inject({ url: '/api/admin/targets', headers, remoteAddress })).statusCode,
      );
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    const limited = await fixture.app.inject({ url: '/admin/queues/api/queues', headers, remoteAddress });
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error).toMatchObject({ code: 'RATE_LIMITED' });
    // Another client is not affected, and health is never limited.
    const other = await fixture.app.inject({
      url: '/api/admin/targets',
      headers,
      remoteAddress: '127.0.0.3',
    });
    expect(other.statusCode).toBe(200);
    expect(other.headers['x-ratelimit-remaining']).toBe('4');
    expect((await fixture.app.inject({ url: '/health', remoteAddress })).statusCode).toBe(200);
  });

  it('keeps the counters in Redis under QUEUE_PREFIX', async () => {
    const remoteAddress = '127.0.0.4';
    fixture.logLines.length = 0;
    await fixture.app.inject({ url: '/api/admin/targets', headers: bearer(), remoteAddress });
    await fixture.app.inject({
      url: '/api/admin/targets',
      headers: bearer('wrong-wrong-wrong'),
      remoteAddress,
    });
    const key = (bucket: string) => `${fixture.prefix}:rate-limit:${bucket}:${remoteAddress}`;
    expect(fixture.logLines.join('')).not.toContain('rate-limit counters unavailable');
    expect(await fixture.connection.get(key('requests:admin'))).toBe('1');
    expect(await fixture.connection.get(key('auth-failures'))).toBe('1');
    expect(await fixture.connection.pttl(key('auth-failures'))).toBeGreaterThan(0);
  });
});
