/**
 * The console's server side through `inject()` with real Redis queues and real local storage: the
 * page and its assets behind the Bull Board credentials and a strict CSP, the cross-site guard on
 * state-changing requests, and the admin routes the page reads (fleet, restore tests, download,
 * alerts).
 */
import { createHash } from 'node:crypto';
import { type BackupManifest, writeManifest } from '@warden/catalog';
import { createAlertHistory } from '@warden/notify';
import { createRedisConnection, JOB_NAMES } from '@warden/queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ApiFixture,
  createApiFixture,
  deleteKeys,
  makeManifest,
  makeTarget,
  REDIS_URL,
  TEST_TOKEN,
  uniquePrefix,
} from './helpers/api-fixtures.js';

const app = makeTarget('app');
const billing = makeTarget('billing', { environment: 'production' });
const basic = (token = TEST_TOKEN) => ({
  authorization: `Basic ${Buffer.from(`operator:${token}`).toString('base64')}`,
});
const bearer = { authorization: `Bearer ${TEST_TOKEN}` };
/** What the console's script sends: the browser's Basic credentials and the console header. */
const fromConsole = { ...basic(), 'x-warden-request': 'console' };

const alertsRedis = createRedisConnection({ url: REDIS_URL, role: 'producer' });
alertsRedis.on('error', () => undefined);
const alertsPrefix = `${uniquePrefix('console-alerts')}:alerts`;
const alerts = createAlertHistory({ redis: alertsRedis, keyPrefix: alertsPrefix, maxEntries: 3 });

let fixture: ApiFixture;
const dumps = new Map<string, Buffer>();

async function storeRealBackup(manifest: BackupManifest): Promise<BackupManifest> {
  const body = Buffer.from(`fake dump of ${manifest.filename}`);
  const stored = { ...manifest, bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') };
  await fixture.storage.putBytes(stored.key, body);
  await writeManifest(fixture.storage, stored);
  dumps.set(stored.filename, body);
  return stored;
}

beforeAll(async () => {
  fixture = await createApiFixture({ name: 'console', targets: [app, billing], alerts });
  const now = Date.now();
  for (const hoursAgo of [50, 26, 2]) {
    await storeRealBackup(makeManifest(app, new Date(now - hoursAgo * 3600_000), fixture.storage));
  }
});

afterAll(async () => {
  await fixture?.close();
  await deleteKeys(alertsRedis, alertsPrefix.split(':')[0] ?? alertsPrefix);
  await alertsRedis.quit();
});

describe('the console page', () => {
  it('asks for Basic credentials, like Bull Board', async () => {
    const response = await fixture.app.inject({ method: 'GET', url: '/' });
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toMatch(/^Basic realm="Warden"/);
    expect(
      (await fixture.app.inject({ method: 'GET', url: '/', headers: basic('wrong-token-0123456789') }))
        .statusCode,
    ).toBe(401);
  });

  it('serves the frame with a strict CSP and no inline script or style', async () => {
    const response = await fixture.app.inject({ method: 'GET', url: '/', headers: basic() });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    const csp = String(response.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toMatch(/https?:/);
    const html = response.body;
    expect(html).toContain('data-role="admin"');
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/\sstyle=/);
    expect(html).not.toMatch(/<style/);
    const scriptUrl = /<script type="module" src="([^"]+)"/.exec(html)?.[1] ?? '';
    const styleUrl = /<link rel="stylesheet" href="([^"]+)"/.exec(html)?.[1] ?? '';
    const script = await fixture.app.inject({ method: 'GET', url: scriptUrl, headers: basic() });
    expect(script.statusCode).toBe(200);
    expect(script.headers['content-type']).toMatch(/^text\/javascript/);
    expect(script.body).toContain('Back up now');
    const style = await fixture.app.inject({ method: 'GET', url: styleUrl, headers: basic() });
    expect(style.headers['content-type']).toMatch(/^text\/css/);
    expect(style.body).not.toMatch(/@import|url\(\s*['"]?https?:/);
  });

  it('serves a page per configured target and 404 for any other name', async () => {
    const page = await fixture.app.inject({
      method: 'GET',
      url: '/console/targets/billing',
      headers: basic(),
    });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('data-target="billing"');
    const unknown = await fixture.app.inject({
      method: 'GET',
      url: '/console/targets/nope',
      headers: basic(),
    });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('TARGET_NOT_FOUND');
  });
});

describe('cross-site protection of state-changing requests', () => {
  const post = (headers: Record<string, string>) =>
    fixture.app.inject({ method: 'POST', url: '/api/admin/backup', headers, payload: { target: 'billing' } });

  it('takes Basic (browser) credentials on the JSON API only with the console header', async () => {
    const response = await post(basic());
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Bearer realm="Warden"');
    const read = await fixture.app.inject({ method: 'GET', url: '/api/admin/targets', headers: basic() });
    expect(read.statusCode).toBe(401);
    const fromConsole = await fixture.app.inject({
      method: 'GET',
      url: '/api/admin/targets',
      headers: { ...basic(), 'x-warden-request': 'console' },
    });
    expect(fromConsole.statusCode).toBe(200);
  });

  it('refuses a request from another origin, whatever its credentials', async () => {
    for (const headers of [
      { ...basic(), 'x-warden-request': 'console', origin: 'https://evil.example' },
      { ...bearer, origin: 'https://evil.example' },
      { ...bearer, origin: 'null' },
    ]) {
      const response = await post(headers);
      expect(response.statusCode).toBe(403);
      expect(response.json().error.message).toContain('cross-site');
    }
  });

  it('accepts the console (same origin, header) and scripts (Bearer, no header)', async () => {
    const fromConsole = await post({
      ...basic(),
      'x-warden-request': 'console',
      origin: 'http://localhost:80',
      host: 'localhost:80',
    });
    expect(fromConsole.statusCode).toBe(202);
    await fixture.queues.backups.obliterate({ force: true });
    const fromScript = await post(bearer);
    expect(fromScript.statusCode).toBe(202);
    await fixture.queues.backups.obliterate({ force: true });
  });

  it('without a token, refuses a browser request without the header but lets loopback curl in', async () => {
    const open = await createApiFixture({ name: 'console-open', targets: [app], token: null });
    try {
      const browser = await open.app.inject({
        method: 'POST',
        url: '/api/admin/backup',
        headers: { 'sec-fetch-site': 'cross-site' },
        payload: {},
      });
      expect(browser.statusCode).toBe(403);
      const curl = await open.app.inject({ method: 'POST', url: '/api/admin/backup', payload: {} });
      expect(curl.statusCode).toBe(202);
    } finally {
      await open.close();
    }
  });
});

describe('GET /api/admin/fleet', () => {
  it('puts the target without backups first and says why, with trend, next run and restore test', async () => {
    const response = await fixture.app.inject({
      method: 'GET',
      url: '/api/admin/fleet',
      headers: fromConsole,
    });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.targets.map((row: { name: string }) => row.name)).toEqual(['billing', 'app']);
    const [first, second] = body.targets;
    expect(first).toMatchObject({
      status: 'failing',
      reasons: ['no good backup yet'],
      lastBackup: null,
      trend: [],
    });
    expect(second.status).toBe('degraded');
    expect(second.reasons).toContain('never restore-tested');
    expect(second.trend).toHaveLength(3);
    expect(Date.parse(second.trend[0].finished_at)).toBeLessThan(Date.parse(second.trend[2].finished_at));
    expect(second.lastBackup.filename).toBe(second.trend.length && [...dumps.keys()].sort().at(-1));
    expect(body.counts).toEqual({ failing: 1, degraded: 1, healthy: 0 });
  });

  it('reports a failed backup newer than the last good one as failing', async () => {
    const job = await fixture.queues.backups.add(JOB_NAMES.backupCreate, { target: 'app', trigger: 'api' });
    await job
      .moveToFailed(new Error('PG_DUMP_FAILED: connection refused'), '0', false)
      .catch(() => undefined);
    // moveToFailed needs the job's lock; without a worker, mark it failed the way BullMQ stores it.
    const state = await job.getState();
    if (state !== 'failed') {
      await fixture.connection.zadd(`${fixture.prefix}:backups:failed`, Date.now(), job.id ?? '');
      await fixture.connection.lrem(`${fixture.prefix}:backups:wait`, 0, job.id ?? '');
      await fixture.connection.hset(`${fixture.prefix}:backups:${job.id}`, {
        failedReason: 'PG_DUMP_FAILED: connection refused',
        finishedOn: String(Date.now()),
      });
    }
    const body = (
      await fixture.app.inject({ method: 'GET', url: '/api/admin/fleet?target=app', headers: bearer })
    ).json();
    expect(body.targets).toHaveLength(1);
    expect(body.targets[0].status).toBe('failing');
    expect(body.targets[0].reasons[0]).toBe('last backup failed: PG_DUMP_FAILED: connection refused');
    await fixture.queues.backups.obliterate({ force: true });
  });

  it('answers for 500 targets in one request (figures printed)', async () => {
    const targets = Array.from({ length: 500 }, (_, index) =>
      makeTarget(`t${String(index).padStart(3, '0')}`),
    );
    const big = await createApiFixture({ name: 'console-500', targets });
    try {
      const now = Date.now();
      await Promise.all(
        targets.flatMap((target) =>
          [26, 2].map((hoursAgo) =>
            writeManifest(
              big.storage,
              makeManifest(target, new Date(now - hoursAgo * 3600_000), big.storage),
            ),
          ),
        ),
      );
      const started = performance.now();
      const response = await big.app.inject({ method: 'GET', url: '/api/admin/fleet', headers: bearer });
      const elapsed = performance.now() - started;
      expect(response.statusCode).toBe(200);
      const body = response.json();
      expect(body.targets).toHaveLength(500);
      expect(body.targets[0].trend).toHaveLength(2);
      console.log(
        `GET /api/admin/fleet, 500 targets x 2 backups (local storage): ${Math.round(elapsed)} ms, ${Math.round(response.rawPayload.length / 1024)} KiB`,
      );
    } finally {
      await big.close();
    }
  });

  it('answers 404 for an unknown target', async () => {
    const response = await fixture.app.inject({
      method: 'GET',
      url: '/api/admin/fleet?target=nope',
      headers: bearer,
    });
    expect(response.statusCode).toBe(404);
  });
});

describe('POST /api/admin/restore-tests', () => {
  it('queues a restore test of the newest backup', async () => {
    const response = await fixture.app.inject({
      method: 'POST',
      url: '/api/admin/restore-tests',
      headers: bearer,
      payload: { target: 'app' },
    });
    expect(response.statusCode).toBe(202);
    const job = await fixture.queues.restores.getJob(response.json().jobId);
    expect(job?.name).toBe(JOB_NAMES.restoreVerify);
    expect(job?.data).toEqual({ target: 'app', trigger: 'api' });
    await fixture.queues.restores.obliterate({ force: true });
  });

  it('answers 404 when the target has nothing to test', async () => {
    const response = await fixture.app.inject({
      method: 'POST',
      url: '/api/admin/restore-tests',
      headers: bearer,
      payload: { target: 'billing' },
    });
    expect(response.statusCode).toBe(404);
    expect(response.json().error.code).toBe('BACKUP_NOT_FOUND');
  });
});

describe('GET /api/admin/backups/:target/:file/download', () => {
  it('streams the stored object with its SHA-256 in the headers', async () => {
    const [file, body] = [...dumps.entries()][0] ?? ['', Buffer.alloc(0)];
    const response = await fixture.app.inject({
      method: 'GET',
      url: `/api/admin/backups/app/${file}/download`,
      headers: fromConsole,
    });
    expect(response.statusCode).toBe(200);
    expect(response.rawPayload.equals(body)).toBe(true);
    const sha256 = createHash('sha256').update(body).digest();
    expect(response.headers['x-checksum-sha256']).toBe(sha256.toString('hex'));
    expect(response.headers['repr-digest']).toBe(`sha-256=:${sha256.toString('base64')}:`);
    expect(response.headers['content-disposition']).toBe(`attachment; filename="${file}"`);
    expect(response.headers['content-type']).toBe('application/gzip');
  });

  it('answers 404 for a file that is not a backup of the target, and 400 for a path', async () => {
    const [file] = [...dumps.keys()];
    const other = await fixture.app.inject({
      method: 'GET',
      url: `/api/admin/backups/billing/${file}/download`,
      headers: bearer,
    });
    expect(other.statusCode).toBe(404);
    const climbing = await fixture.app.inject({
      method: 'GET',
      url: '/api/admin/backups/app/..%2Fetc/download',
      headers: bearer,
    });
    expect(climbing.statusCode).toBe(400);
  });
});

describe('GET /api/admin/alerts', () => {
  it('lists the recorded alerts newest first, capped', async () => {
    for (const title of ['one', 'two', 'three', 'four']) {
      await alerts.record({
        at: new Date().toISOString(),
        key: `k:${title}`,
        level: 'warning',
        title,
        outcome: 'logged',
      });
    }
    const response = await fixture.app.inject({
      method: 'GET',
      url: '/api/admin/alerts?limit=10',
      headers: fromConsole,
    });
    expect(response.statusCode).toBe(200);
    expect(response.json().alerts.map((alert: { title: string }) => alert.title)).toEqual([
      'four',
      'three',
      'two',
    ]);
    // The history expires a month after its newest alert, never lingering without one.
    const ttl = await alertsRedis.ttl(`${alertsPrefix}:recent`);
    expect(ttl).toBeGreaterThan(29 * 24 * 3600);
    expect(ttl).toBeLessThanOrEqual(30 * 24 * 3600);
    const bad = await fixture.app.inject({
      method: 'GET',
      url: '/api/admin/alerts?limit=0',
      headers: bearer,
    });
    expect(bad.statusCode).toBe(400);
  });
});
