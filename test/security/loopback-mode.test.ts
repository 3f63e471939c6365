import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiProcess, rawRequest, startApiProcess } from '../helpers/api-process.js';

interface OpenApiDocument {
  paths: Record<string, Record<string, unknown>>;
}

/** Bull Board's page, its queue list, and the docs: the browser-facing admin routes. */
const BROWSER_ROUTES = ['/admin/queues', '/admin/queues/api/queues', '/docs/json'];

describe('the tokenless loopback mode against DNS rebinding (real API process)', () => {
  let api: ApiProcess;
  /** GET routes without path parameters (200 expected) and with (made-up values: 404 is fine). */
  let adminGets: string[];
  let adminParamGets: string[];
  let adminWrites: { method: string; path: string }[];

  beforeAll(async () => {
    api = await startApiProcess('loopback');
    const docs = await rawRequest(`${api.url}/docs/json`, { headers: { host: `127.0.0.1:${api.port}` } });
    expect(docs.status).toBe(200);
    const paths = Object.entries(docs.json<OpenApiDocument>().paths).filter(([path]) =>
      path.startsWith('/api/admin/'),
    );
    const gets = paths.filter(([, operations]) => 'get' in operations).map(([path]) => path);
    adminGets = gets.filter((path) => !path.includes('{'));
    adminParamGets = gets
      .filter((path) => path.includes('{'))
      .map((path) => path.replace(/\{[^}]+\}/g, 'backup-test-1'));
    adminWrites = paths.flatMap(([path, operations]) =>
      Object.keys(operations)
        .filter((method) => method !== 'get')
        .map((method) => ({ method: method.toUpperCase(), path: path.replace(/\{[^}]+\}/g, 'x') })),
    );
    expect(adminGets.length).toBeGreaterThanOrEqual(5);
    expect(adminWrites).toContainEqual({ method: 'POST', path: '/api/admin/backup' });
  });

  afterAll(async () => {
    await api?.close();
  });

  it('answers 403 on every admin route to a foreign Host, with or without a port', async () => {
    const routes = [
      ...[...adminGets, ...adminParamGets].map((path) => ({ method: 'GET', path })),
      ...adminWrites,
      ...BROWSER_ROUTES.map((path) => ({ method: 'GET', path })),
    ];
    for (const host of ['evil.example', `evil.example:${api.port}`, `127.0.0.1.evil.example:${api.port}`]) {
      for (const { method, path } of routes) {
        const response = await rawRequest(`${api.url}${path}`, {
          method,
          headers: { host },
          ...(method === 'GET' ? {} : { body: '{}' }),
        });
        expect(response.status, `${method} ${path} Host: ${host}`).toBe(403);
        expect(response.json()).toEqual({
          error: { code: 'FORBIDDEN', message: expect.stringContaining('loopback Host') },
        });
      }
    }
  });

  it('answers 200 to a loopback Host: 127.0.0.1:<port>, localhost, [::1]', async () => {
    for (const path of [...adminGets, ...BROWSER_ROUTES]) {
      const response = await rawRequest(`${api.url}${path}`, { headers: { host: `127.0.0.1:${api.port}` } });
      expect(response.status, `GET ${path}`).toBe(200);
    }
    for (const path of adminParamGets) {
      const response = await rawRequest(`${api.url}${path}`, { headers: { host: `127.0.0.1:${api.port}` } });
      expect([200, 404], `GET ${path}`).toContain(response.status);
    }
    for (const host of ['127.0.0.1', `localhost:${api.port}`, 'LOCALHOST', `[::1]:${api.port}`, '[::1]']) {
      const response = await rawRequest(`${api.url}/api/admin/targets`, { headers: { host } });
      expect(response.status, `Host: ${host}`).toBe(200);
    }
  });

  it('takes a state-changing request only from the same loopback origin or without Origin', async () => {
    const host = `127.0.0.1:${api.port}`;
    const backup = (headers: Record<string, string>) =>
      rawRequest(`${api.url}/api/admin/backup`, {
        method: 'POST',
        headers: { host, ...headers },
        body: '{}',
      });
    for (const origin of [
      'http://evil.example',
      `http://evil.example:${api.port}`,
      `http://localhost:${api.port}`,
      'http://127.0.0.1',
      'null',
      `file://${host}`,
    ]) {
      const refused = await backup({ origin });
      expect(refused.status, `Origin: ${origin}`).toBe(403);
      expect(refused.json().error).toMatchObject({ code: 'FORBIDDEN' });
    }
    // The console's own requests: same origin, and the header that marks them (see cross-site.ts).
    expect((await backup({ origin: `http://${host}`, 'x-warden-request': 'console' })).status).toBe(202);
    expect((await backup({})).status).toBe(202);
    // A read is not a state change: a foreign Origin may not stop it (the browser keeps the answer).
    const read = await rawRequest(`${api.url}/api/admin/targets`, {
      headers: { host, origin: 'http://evil.example' },
    });
    expect(read.status).toBe(200);
  });

  it('refuses requests a proxy forwarded', async () => {
    for (const header of ['x-forwarded-for', 'x-forwarded-host', 'forwarded']) {
      const response = await rawRequest(`${api.url}/api/admin/targets`, {
        headers: {
          host: `127.0.0.1:${api.port}`,
          [header]: header === 'forwarded' ? 'for=203.0.113.9' : '203.0.113.9',
        },
      });
      expect(response.status, header).toBe(403);
    }
  });

  it('leaves /health and /metrics open whatever the Host', async () => {
    for (const path of ['/health', '/metrics']) {
      expect((await rawRequest(`${api.url}${path}`, { headers: { host: 'evil.example' } })).status).toBe(200);
    }
  });
});
