/**
 * Hostile input battery against the real app (`buildApp` with real Redis queues and storage): every
 * admin route is enumerated from the router itself, so a route added later is covered without
 * editing this file. Nothing sent here may enqueue a job.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '@warden/config';
import { backupJobSchema, restoreJobSchema } from '@warden/queue';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ApiFixture,
  basic,
  bearer,
  createApiFixture,
  makeTarget,
  TEST_TOKEN,
} from '../helpers/api-fixtures.js';

interface Route {
  method: string;
  path: string;
}

const PUBLIC_PATHS = new Set(['/health', '/health/detailed', '/metrics']);
const PARAM_VALUES: Record<string, string> = {
  id: 'backup-app-1',
  queueName: 'backups',
  jobId: '1',
  queueStatus: 'failed',
  schedulerId: 'backup:app',
};

/** Hostile names: traversal, shell metacharacters, option injection, control characters, lookalikes. */
const HOSTILE_NAMES = [
  '../../etc/passwd',
  '..',
  '..\\..\\windows',
  '/etc/passwd',
  'app/../../x',
  'app%2F..%2Fx',
  '$(id)',
  '`id`',
  'app;rm -rf /',
  'app|cat /etc/passwd',
  'app&&reboot',
  'app>/tmp/x',
  "app' OR '1'='1",
  'app"; DROP DATABASE x; --',
  '-h',
  '--help',
  '-dpostgres://evil',
  'app name',
  'app\nX-Injected: 1',
  'app\r\nSet-Cookie: a=b',
  'app\u0000',
  'app\t',
  '*',
  '~root',
  'ａｐｐ',
  'app\u202e',
  '',
];
/** Too long for a target or database name (63 is PostgreSQL's limit), fine for a file or job id. */
const LONG_NAME = 'a'.repeat(64);
/**
 * A database name may be anything PostgreSQL accepts (it only reaches SQL as a quoted identifier and
 * libpq through its environment), except empty, too long or with control characters.
 */
const REFUSED_DATABASE_NAMES = [
  ...HOSTILE_NAMES.filter((name) => name === '' || /\p{Cc}/u.test(name)),
  LONG_NAME,
];

/** Every route the app serves, read from Fastify's route tree. */
function listRoutes(app: FastifyInstance): Route[] {
  const routes: Route[] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^((?:│ {3}| {4})*)(?:├── |└── )(.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!match) continue;
    const depth = (match[1] ?? '').length / 4;
    stack.length = depth;
    const full = (stack[depth - 1] ?? '') + (match[2] ?? '');
    stack[depth] = full;
    for (const method of (match[3] ?? '').split(',').map((m) => m.trim())) {
      if (method && method !== 'HEAD') routes.push({ method, path: full });
    }
  }
  return routes;
}

function concrete(path: string): string {
  return path
    .replace(/:(\w+)/g, (_m, name: string) => PARAM_VALUES[name] ?? 'x')
    .replace(/\*$/, 'static/main.js');
}

interface OperationSchema {
  body?: { properties?: Record<string, Record<string, unknown>>; additionalProperties?: unknown };
  query?: { properties?: Record<string, Record<string, unknown>>; additionalProperties?: unknown };
  params?: Record<string, Record<string, unknown>>;
}

type JsonSchema = Record<string, unknown>;
interface OpenApiOperation {
  parameters?: { in: string; name: string; schema: JsonSchema }[];
  requestBody?: { content?: Record<string, { schema?: OperationSchema['body'] }> };
}
interface OpenApiSpec {
  paths?: Record<string, Record<string, OpenApiOperation>>;
}

/** Request schemas of an admin route, as published in the OpenAPI description. */
function operationSchema(spec: OpenApiSpec, route: Route): OperationSchema {
  const openApiPath = route.path.replace(/:(\w+)/g, '{$1}');
  const operation = spec.paths?.[openApiPath]?.[route.method.toLowerCase()];
  if (!operation) return {};
  const parameters = operation.parameters ?? [];
  const query = parameters.filter((p) => p.in === 'query');
  const result: OperationSchema = {};
  const body = operation.requestBody?.content?.['application/json']?.schema;
  if (body) result.body = body;
  if (query.length > 0) {
    result.query = { properties: Object.fromEntries(query.map((p) => [p.name, p.schema])) };
  }
  const params = parameters.filter((p) => p.in === 'path');
  if (params.length > 0) result.params = Object.fromEntries(params.map((p) => [p.name, p.schema]));
  return result;
}

function wrongValueFor(schema: Record<string, unknown>): unknown {
  switch (schema.type) {
    case 'string':
      return 12345;
    case 'boolean':
      return 'true';
    case 'integer':
    case 'number':
      return '1';
    case 'array':
      return 'x';
    default:
      return ['x'];
  }
}

/** Sends raw bytes over TCP and returns the raw response. */
function rawRequest(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let response = '';
    socket.setTimeout(5_000, () => socket.destroy(new Error('raw request timed out')));
    socket.on('data', (chunk) => {
      response += chunk.toString('latin1');
    });
    socket.on('end', () => resolve(response));
    socket.on('close', () => resolve(response));
    socket.on('error', reject);
    socket.write(request, 'latin1');
  });
}

const headersOf = (raw: string) => raw.split('\r\n\r\n')[0]?.toLowerCase() ?? '';

describe('hostile input against every admin route', () => {
  let fixture: ApiFixture;
  let routes: Route[];
  let adminRoutes: Route[];
  let spec: OpenApiSpec;
  let port: number;

  beforeAll(async () => {
    fixture = await createApiFixture({
      name: 'hostile',
      targets: [makeTarget('app'), makeTarget('billing')],
      env: { API_RATE_LIMIT_PER_MINUTE: '1000000', API_AUTH_FAILURES_PER_MINUTE: '1000000' },
    });
    routes = listRoutes(fixture.app);
    adminRoutes = routes.filter((route) => route.path.startsWith('/api/admin'));
    spec = (fixture.app as unknown as { swagger(): OpenApiSpec }).swagger();
    await fixture.app.listen({ host: '127.0.0.1', port: 0 });
    const address = fixture.app.server.address();
    port = typeof address === 'object' && address ? address.port : 0;
  });

  afterAll(async () => {
    // Nothing hostile was queued.
    if (fixture) {
      for (const queue of Object.values(fixture.queues)) {
        const counts = await queue.getJobCounts();
        expect(
          Object.values(counts as Record<string, number>).reduce((sum, n) => sum + n, 0),
          queue.name,
        ).toBe(0);
      }
    }
    await fixture?.close();
  });

  it('finds the admin routes, Bull Board and the docs in the router', () => {
    const signatures = adminRoutes.map((route) => `${route.method} ${route.path}`);
    for (const known of [
      'POST /api/admin/backup',
      'GET /api/admin/backups',
      'POST /api/admin/backup/restore',
      'GET /api/admin/jobs/:id',
      'GET /api/admin/schedules',
      'GET /api/admin/targets',
    ]) {
      expect(signatures).toContain(known);
    }
    expect(routes.some((route) => route.path === '/admin/queues')).toBe(true);
    expect(routes.some((route) => route.path.startsWith('/admin/queues/api/queues/:queueName'))).toBe(true);
    expect(routes.some((route) => route.path === '/docs/json')).toBe(true);
  });

  it('every non-public route refuses a missing, wrong or misplaced token with 401', async () => {
    const wrongs: Record<string, string | undefined>[] = [
      {},
      bearer('x'),
      bearer(`${TEST_TOKEN.slice(0, -1)}X`),
      bearer(`${TEST_TOKEN}x`),
      bearer(TEST_TOKEN.slice(1)),
      bearer(TEST_TOKEN.toUpperCase()),
      { authorization: 'Bearer' },
      { authorization: 'Bearer ' },
      { authorization: TEST_TOKEN },
      { authorization: `Token ${TEST_TOKEN}` },
      { authorization: `Bearer ${'a'.repeat(8000)}` },
      { 'x-admin-token': TEST_TOKEN, 'x-api-key': TEST_TOKEN },
      basic('wrong-password-0123456789'),
      { authorization: `Basic ${Buffer.from(TEST_TOKEN).toString('base64')}` },
      { authorization: 'Basic !!!not-base64!!!' },
    ];
    const guarded = routes.filter((route) => !PUBLIC_PATHS.has(route.path));
    expect(guarded.length).toBeGreaterThan(30);
    const failures: string[] = [];
    for (const route of guarded) {
      for (const headers of wrongs) {
        const response = await fixture.app.inject({
          method: route.method as 'GET',
          url: `${concrete(route.path)}?token=${TEST_TOKEN}&access_token=${TEST_TOKEN}`,
          headers: { ...headers, 'content-type': 'application/json' } as Record<string, string>,
          payload: route.method === 'GET' ? undefined : '{}',
        });
        if (response.statusCode !== 401 || response.json().error?.code !== 'UNAUTHORIZED') {
          failures.push(
            `${route.method} ${route.path} ${JSON.stringify(headers).slice(0, 60)} → ${response.statusCode}`,
          );
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it('the JSON API takes the token as Bearer only, not as Basic credentials', async () => {
    for (const route of adminRoutes) {
      const response = await fixture.app.inject({
        method: route.method as 'GET',
        url: concrete(route.path),
        headers: basic(),
      });
      expect(response.statusCode, `${route.method} ${route.path}`).toBe(401);
      expect(response.headers['www-authenticate']).toBe('Bearer realm="Warden"');
    }
  });

  it('Bull Board cannot be reached without auth, whatever the path spelling; its actions do nothing', async () => {
    const boardRoutes = routes.filter((route) => route.path.startsWith('/admin/queues'));
    for (const route of boardRoutes) {
      const response = await fixture.app.inject({ method: route.method as 'GET', url: concrete(route.path) });
      expect(response.statusCode, `${route.method} ${route.path}`).toBe(401);
      expect(response.headers['www-authenticate']).toMatch(/^Basic realm="Warden"/);
      expect(response.body).not.toContain('"queues"');
    }
    for (const url of [
      '/admin/queues/',
      '//admin/queues/api/queues',
      '/admin//queues/api/queues',
      '/admin/queues/./api/queues',
      '/admin/queues/../admin/queues/api/queues',
      '/health/../admin/queues/api/queues',
      '/health/..%2Fadmin/queues/api/queues',
      '/%61dmin/queues/api/queues',
      '/admin/queues%2Fapi%2Fqueues',
      '/admin/queues;/api/queues',
      '/admin/queues/api/queues?x=/health',
      '/ADMIN/QUEUES/api/queues',
      '/admin/queues/api/queues%00',
      '/admin/queues/static/../../../package.json',
    ]) {
      const response = await fixture.app.inject({ url });
      expect([401, 404], url).toContain(response.statusCode);
      expect(response.body, url).not.toContain('"queues"');
      expect(response.body, url).not.toContain('"dependencies"');
    }
    // An unauthenticated pause did not pause anything.
    const pause = await fixture.app.inject({ method: 'PUT', url: '/admin/queues/api/queues/backups/pause' });
    expect(pause.statusCode).toBe(401);
    expect(await fixture.queues.backups.isPaused()).toBe(false);
  });

  it('malformed JSON, wrong root types, prototype pollution and huge bodies are refused on every body route', async () => {
    const bodyRoutes = adminRoutes.filter((route) => ['POST', 'PUT', 'PATCH'].includes(route.method));
    expect(bodyRoutes.length).toBeGreaterThanOrEqual(2);
    for (const route of bodyRoutes) {
      const url = concrete(route.path);
      const send = (payload: string, contentType = 'application/json') =>
        fixture.app.inject({
          method: route.method as 'POST',
          url,
          headers: { ...bearer(), 'content-type': contentType },
          payload,
        });
      for (const payload of [
        '{"target": "app",',
        '{target: app}',
        'nul',
        '{"a":1}}',
        '\u0000',
        '{"a":"\\ud800"',
      ]) {
        const response = await send(payload);
        expect(response.statusCode, `${url} ${payload}`).toBe(400);
        expect(response.json().error.code).toBe('INVALID_BODY');
      }
      for (const payload of ['[]', '"app"', '42', 'true', 'null']) {
        const response = await send(payload);
        expect(response.statusCode, `${url} ${payload}`).toBe(400);
        expect(['VALIDATION_FAILED', 'INVALID_BODY']).toContain(response.json().error.code);
      }
      for (const payload of [
        '{"__proto__": {"polluted": true}}',
        '{"constructor": {"prototype": {"polluted": true}}}',
      ]) {
        const response = await send(payload);
        expect(response.statusCode, `${url} ${payload}`).toBe(400);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }
      const huge = await send(JSON.stringify({ target: 'app', pad: 'x'.repeat(1024 * 1024) }));
      expect(huge.statusCode, url).toBe(413);
      expect(huge.json().error.code).toBe('BODY_TOO_LARGE');
      const deep = await send(`${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`);
      expect(deep.statusCode, `${url} deep nesting`).toBe(400);
      const xml = await send('<target>app</target>', 'application/xml');
      expect(xml.statusCode, url).toBe(415);
    }
  });

  it('unknown fields and wrong types are refused by name on every body and query string', async () => {
    const freeText: string[] = [];
    for (const route of adminRoutes) {
      const url = concrete(route.path);
      const schema = operationSchema(spec, route);
      if (schema.body) {
        expect(schema.body.additionalProperties, `${url} body`).toBe(false);
        const unknown = await fixture.app.inject({
          method: route.method as 'POST',
          url,
          headers: bearer(),
          payload: { target: 'app', sneaky: true },
        });
        expect(unknown.statusCode, url).toBe(400);
        expect(unknown.json().error.message).toContain('body.sneaky is not allowed');
        for (const [name, property] of Object.entries(schema.body.properties ?? {})) {
          const response = await fixture.app.inject({
            method: route.method as 'POST',
            url,
            headers: bearer(),
            payload: { [name]: wrongValueFor(property) },
          });
          expect(response.statusCode, `${url} body.${name}`).toBe(400);
          const fields = (response.json().error.fields ?? []).map((f: { field: string }) => f.field);
          expect(fields, `${url} body.${name}`).toContain(`body.${name}`);
          if (property.type === 'string' && !property.pattern && !property.enum && !property.format) {
            freeText.push(`${route.method} ${route.path} body.${name}`);
          }
        }
      }
      if (route.method === 'GET' && schema.query) {
        const unknown = await fixture.app.inject({ url: `${url}?sneaky=1`, headers: bearer() });
        expect(unknown.statusCode, `${url}?sneaky=1`).toBe(400);
        expect(unknown.json().error.message).toContain('querystring.sneaky is not allowed');
      } else if (route.method === 'GET') {
        // A route that takes no query string ignores one: the answer is the same as without it.
        const plain = await fixture.app.inject({ url, headers: bearer() });
        const unknown = await fixture.app.inject({
          url: `${url}?sneaky=$(id)&__proto__=x`,
          headers: bearer(),
        });
        expect(unknown.statusCode, `${url}?sneaky`).toBe(plain.statusCode);
      }
    }
    // Fields that take any text: they are only stored as job data, never used as a name or path.
    expect(freeText).toEqual(['POST /api/admin/backup body.reason']);
  });

  it('names and files with traversal, shell metacharacters or control characters are refused everywhere', async () => {
    const failures: string[] = [];
    const checked: string[] = [];
    for (const route of adminRoutes) {
      const url = concrete(route.path);
      const schema = operationSchema(spec, route);
      const nameFields = Object.entries(schema.body?.properties ?? {}).filter(
        ([, property]) => property.type === 'string' && property.pattern,
      );
      for (const [name] of nameFields) {
        checked.push(`${route.method} ${route.path} body.${name}`);
        const values =
          name === 'file'
            ? HOSTILE_NAMES
            : name === 'database'
              ? REFUSED_DATABASE_NAMES
              : [...HOSTILE_NAMES, LONG_NAME];
        for (const value of values) {
          const response = await fixture.app.inject({
            method: route.method as 'POST',
            url,
            headers: bearer(),
            payload: { [name]: value },
          });
          const error = response.json().error;
          const fields = (error?.fields ?? []).map((f: { field: string }) => f.field);
          if (response.statusCode !== 400 || !fields.includes(`body.${name}`)) {
            failures.push(
              `${route.method} ${url} body.${name}=${JSON.stringify(value)} → ${response.statusCode}`,
            );
          }
          // A refused value is not echoed back (no reflected content).
          if (value.length > 3 && response.body.includes(JSON.stringify(value).slice(1, -1))) {
            failures.push(`${url} echoed body.${name}=${JSON.stringify(value)}`);
          }
        }
      }
      const queryFields = Object.entries(schema.query?.properties ?? {}).filter(
        ([, property]) => property?.type === 'string' && property.pattern,
      );
      for (const [name] of queryFields) {
        checked.push(`${route.method} ${route.path} query.${name}`);
        for (const value of HOSTILE_NAMES.filter((v) => v !== '')) {
          const response = await fixture.app.inject({
            url: `${url}?${name}=${encodeURIComponent(value)}`,
            headers: bearer(),
          });
          if (response.statusCode !== 400) {
            failures.push(`GET ${url}?${name}=${JSON.stringify(value)} → ${response.statusCode}`);
          }
        }
      }
      for (const param of Object.keys(schema.params ?? {})) {
        checked.push(`${route.method} ${route.path} params.${param}`);
        for (const value of HOSTILE_NAMES.filter((v) => v !== '')) {
          const path = route.path.replace(`:${param}`, encodeURIComponent(value));
          const response = await fixture.app.inject({
            method: route.method as 'GET',
            url: path,
            headers: bearer(),
          });
          // 404 NOT_FOUND: the router resolved ".." away and no route matched; nothing was looked up.
          const code = response.json().error?.code;
          if (!(response.statusCode === 400 || (response.statusCode === 404 && code === 'NOT_FOUND'))) {
            failures.push(`${route.method} ${path} → ${response.statusCode}`);
          }
        }
      }
    }
    expect(checked).toEqual(
      expect.arrayContaining([
        'POST /api/admin/backup body.target',
        'POST /api/admin/backup/restore body.file',
        'POST /api/admin/backup/restore body.target',
        'POST /api/admin/backup/restore body.database',
        'GET /api/admin/backups query.target',
        'GET /api/admin/backups query.before',
        'GET /api/admin/jobs/:id params.id',
      ]),
    );
    expect(failures).toEqual([]);
  });

  it('header injection: CR/LF never reaches a response header; malformed or smuggled requests are refused', async () => {
    const auth = `Authorization: Bearer ${TEST_TOKEN}\r\n`;
    const splitting = await rawRequest(
      port,
      `GET /api/admin/jobs/abc%0d%0aSet-Cookie:%20pwned=1 HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`,
    );
    expect(splitting).toMatch(/^HTTP\/1\.1 400 /);
    expect(headersOf(splitting)).not.toContain('pwned');

    const bareLf = await rawRequest(
      port,
      `GET /api/admin/targets HTTP/1.1\r\nHost: x\r\nX-Test: a\rSet-Cookie: pwned=1\r\n${auth}Connection: close\r\n\r\n`,
    );
    expect(bareLf).toMatch(/^HTTP\/1\.1 400 /);
    expect(headersOf(bareLf)).not.toContain('pwned');

    const smuggled = await rawRequest(
      port,
      `POST /api/admin/backup HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\nPOST /api/admin/backup HTTP/1.1\r\n\r\n`,
    );
    expect(smuggled).toMatch(/^HTTP\/1\.1 400 /);

    const hugeHeader = await rawRequest(
      port,
      `GET /api/admin/targets HTTP/1.1\r\nHost: x\r\n${auth}X-Big: ${'a'.repeat(20_000)}\r\nConnection: close\r\n\r\n`,
    );
    expect(hugeHeader).toMatch(/^HTTP\/1\.1 431 /);

    // The Host header is never reflected into a URL a client follows.
    const hosted = await fixture.app.inject({
      url: '/api/admin/jobs/no-such-job',
      headers: { ...bearer(), host: 'evil.example', 'x-forwarded-host': 'evil.example' },
    });
    expect(hosted.statusCode).toBe(404);
    expect(JSON.stringify(hosted.headers) + hosted.body).not.toContain('evil.example');
  });

  it('a long or odd URL is refused cleanly, never with a 5xx', async () => {
    for (const url of [
      `/api/admin/jobs/${'a'.repeat(300)}`,
      `/api/admin/backups?target=${'a'.repeat(10_000)}`,
      '/api/admin/backups?target=app&target=billing',
      '/api/admin/backups?target[]=app',
      '/api/admin/backups?limit=1e3',
      '/api/admin/backups?limit=-1',
      '/api/admin/jobs/%',
      '/api/admin/jobs/%E0%A4%A',
    ]) {
      const response = await fixture.app.inject({ url, headers: bearer() });
      expect(response.statusCode, url).toBeGreaterThanOrEqual(400);
      expect(response.statusCode, url).toBeLessThan(500);
      expect(response.json().error.code, url).toEqual(expect.any(String));
    }
  });
});

describe('loopback-only mode (no ADMIN_API_TOKEN)', () => {
  let fixture: ApiFixture;
  beforeAll(async () => {
    fixture = await createApiFixture({ name: 'hostile-notoken', token: null });
  });
  afterAll(async () => {
    await fixture?.close();
  });

  it('forwarding headers cannot make a remote client look local', async () => {
    for (const url of ['/api/admin/targets', '/admin/queues/api/queues', '/docs/json']) {
      const response = await fixture.app.inject({
        url,
        remoteAddress: '203.0.113.7',
        headers: {
          'x-forwarded-for': '127.0.0.1',
          'x-real-ip': '127.0.0.1',
          forwarded: 'for=127.0.0.1',
          host: '127.0.0.1',
        },
      });
      expect(response.statusCode, url).toBe(403);
    }
  });
});

/** The configuration problems reported for `env`, or '' when it loads. */
function configProblems(env: Record<string, string>): string {
  try {
    loadConfig(env, { cwd: '/' });
    return '';
  } catch (error) {
    return String(error);
  }
}

describe('names are validated before they reach a process, wherever they come from', () => {
  it('configuration refuses hostile target and database names', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'warden-sec-config-'));
    try {
      for (const name of [...HOSTILE_NAMES, LONG_NAME]) {
        const file = path.join(dir, 'targets.json');
        writeFileSync(file, JSON.stringify({ targets: [{ name, url: 'postgres://u@h:5432/app' }] }));
        const fromFile = configProblems({ WARDEN_CONFIG: file });
        expect(fromFile, JSON.stringify(name)).toMatch(/WARDEN_CONFIG\.targets\.0\.name: must be/);
      }
      for (const name of REFUSED_DATABASE_NAMES) {
        const file = path.join(dir, 'targets.json');
        writeFileSync(
          file,
          JSON.stringify({
            targets: [{ name: 'app', url: `postgres://u@h:5432/${encodeURIComponent(name)}` }],
          }),
        );
        expect(configProblems({ WARDEN_CONFIG: file }), JSON.stringify(name)).toMatch(
          /WARDEN_CONFIG target "app": (the URL must name a database|the database name)/,
        );
        const single = configProblems({ DATABASE_URL: `postgres://u@h:5432/${encodeURIComponent(name)}` });
        expect(single, JSON.stringify(name)).toContain('DATABASE_URL');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('job payloads that bypass the API (anyone with Redis access) are refused by the worker schema', () => {
    for (const name of [...HOSTILE_NAMES, LONG_NAME]) {
      expect(backupJobSchema.safeParse({ target: name }).success, JSON.stringify(name)).toBe(false);
      expect(restoreJobSchema.safeParse({ target: name, file: 'latest' }).success).toBe(false);
      if (name !== LONG_NAME) {
        expect(restoreJobSchema.safeParse({ target: 'app', file: name }).success, JSON.stringify(name)).toBe(
          false,
        );
      }
    }
    for (const name of REFUSED_DATABASE_NAMES) {
      expect(
        restoreJobSchema.safeParse({ target: 'app', file: 'latest', database: name }).success,
        JSON.stringify(name),
      ).toBe(false);
    }
    expect(backupJobSchema.safeParse({ target: 'app', extra: 1 }).success).toBe(false);
  });
});
