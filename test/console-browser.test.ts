/**
 * The operator console in a real headless Chromium (playwright-core driving Debian's chromium),
 * against the real API and worker processes, Redis and PostgreSQL: the overview shows the target and
 * its last backup, "Back up now" and "Test restore now" show their job live and then the result,
 * the viewer token gets a read-only page, no credentials get the Basic challenge, axe-core finds no
 * serious or critical violation, and screenshots land in test-artifacts/console/.
 */

import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRedisConnection } from '@warden/queue';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writePgDumpWrapper } from './helpers/pg-dump-wrapper.js';
import { createTestDatabase, type TestDatabase } from './helpers/pg-fixtures.js';
import { REPO_ROOT, startWardenFor, type WardenProcess, waitFor } from './helpers/processes.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const ADMIN_TOKEN = `console-admin-${randomBytes(8).toString('hex')}`;
const VIEWER_TOKEN = `console-viewer-${randomBytes(8).toString('hex')}`;
const queuePrefix = `warden-console-${randomBytes(4).toString('hex')}`;
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts', 'console');
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

let database: TestDatabase;
let workDir: string;
let apiUrl: string;
let browser: Browser;
let firstBackup: string;
const processes: WardenProcess[] = [];
const contexts: BrowserContext[] = [];

async function api(method: 'GET' | 'POST', route: string, token: string, body?: unknown) {
  const response = await fetch(`${apiUrl}${route}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** A page whose CSP violations and script errors are collected, so a test can assert there were none. */
async function openPage(token: string | undefined, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({
    viewport,
    ...(token === undefined ? {} : { httpCredentials: { username: 'operator', password: token } }),
  });
  contexts.push(context);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' && !/favicon/.test(message.text())) problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(error.message));
  return { page, problems };
}

/** axe-core, injected through the driver (which the page's CSP does not govern), on the page as it is. */
async function seriousViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(): Promise<{ violations: unknown[] }> } }).axe;
    const result = await axe.run();
    return result.violations as { id: string; impact: string; help: string; nodes: { target: string[] }[] }[];
  });
  return violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map(
      (violation) =>
        `${violation.id} (${violation.impact}): ${violation.help} at ${violation.nodes.map((n) => n.target.join(' ')).join(', ')}`,
    );
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  workDir = await mkdtemp(path.join(tmpdir(), 'warden-console-'));
  database = await createTestDatabase({ prefix: 'warden_console', seed: { orders: 5_000 } });
  // A pg_dump that takes a moment, so the page has a running job to show.
  const slowPgDump = writePgDumpWrapper(workDir, 'pg_dump_slow', 'sleep 2');
  const started = await startWardenFor({
    databaseUrl: database.url,
    workDir,
    environment: 'console',
    queuePrefix,
    pgDumpPath: slowPgDump,
    vars: { ADMIN_API_TOKEN: ADMIN_TOKEN, VIEWER_API_TOKEN: VIEWER_TOKEN },
  });
  apiUrl = started.url;
  processes.push(started.api, started.worker);
  // One backup before the page opens: the overview must show it.
  const queued = await api('POST', '/api/admin/backup', ADMIN_TOKEN, { reason: 'console test' });
  const done = await waitFor(
    async () => {
      const { body } = await api('GET', String(queued.body.statusUrl), ADMIN_TOKEN);
      return body.state === 'completed' || body.state === 'failed' ? body : undefined;
    },
    90_000,
    'the first backup',
  );
  expect(done.state).toBe('completed');
  firstBackup = String((done.result as { filename: string }).filename);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
});

afterAll(async () => {
  for (const context of contexts) await context.close().catch(() => undefined);
  await browser?.close();
  await Promise.all(processes.map((p) => p.stop()));
  const redis = createRedisConnection({ url: REDIS_URL, role: 'worker' });
  const keys = await redis.keys(`${queuePrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
  await database?.drop();
  await rm(workDir, { recursive: true, force: true });
});

describe('operator console in Chromium', () => {
  it('answers the Basic challenge without credentials', async () => {
    const { page } = await openPage(undefined);
    // Headless Chromium has nobody to ask for credentials: it ends the navigation with
    // ERR_INVALID_AUTH_CREDENTIALS after receiving the challenge, which is what is checked here.
    const challenged = page.waitForResponse(`${apiUrl}/`);
    await page.goto(`${apiUrl}/`).catch(() => undefined);
    const response = await challenged;
    expect(response.status()).toBe(401);
    expect(response.headers()['www-authenticate']).toMatch(/^Basic realm="Warden"/);
  });

  it('shows the target and its last backup, runs "Back up now" and "Test restore now" live', async () => {
    const { page, problems } = await openPage(ADMIN_TOKEN);
    const response = await page.goto(`${apiUrl}/`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
    const row = page.locator(`tr[data-target="${database.name}"]`);
    await row.waitFor({ timeout: 20_000 });
    await expect.poll(() => row.textContent(), { timeout: 10_000 }).toContain(firstBackup);

    expect(await seriousViolations(page)).toEqual([]);
    await page.screenshot({ path: path.join(ARTIFACTS, 'overview-desktop.png'), fullPage: true });

    // A marker that a reload would wipe: the result must arrive in this same document.
    await page.evaluate(() => {
      (globalThis as unknown as { consoleMarker: number }).consoleMarker = 1;
    });
    const status = row.locator('.job-status');
    await row.getByRole('button', { name: /^Back up now/ }).click();
    await status.locator('progress').waitFor({ timeout: 20_000 });
    await expect.poll(() => status.textContent(), { timeout: 90_000 }).toMatch(/Backup stored: /);
    const stored = (await status.locator('.result-file').textContent()) ?? '';
    expect(stored).toMatch(new RegExp(`^${database.name}_console_\\d{8}_\\d{6}\\.sql\\.gz$`));
    expect(stored).not.toBe(firstBackup);
    expect(
      await page.evaluate(() => (globalThis as unknown as { consoleMarker?: number }).consoleMarker),
    ).toBe(1);

    await row.getByRole('button', { name: /^Test restore now/ }).click();
    await expect
      .poll(() => status.textContent(), { timeout: 120_000 })
      .toMatch(/Restore test (passed|failed)/);
    expect(await status.textContent()).toMatch(/Restore test passed: /);
    // The overview refreshes after a job: the restore test appears in its column.
    await expect.poll(() => row.textContent(), { timeout: 20_000 }).toMatch(/passed/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'overview-after-actions.png'), fullPage: true });
    expect(problems).toEqual([]);
  });

  it('shows the target page with backups, checksums, downloads and what retention would delete', async () => {
    const { page, problems } = await openPage(ADMIN_TOKEN);
    await page.goto(`${apiUrl}/console/targets/${database.name}`);
    const table = page.locator('table.backups');
    await table.waitFor({ timeout: 20_000 });
    await expect.poll(() => table.locator('tbody tr').count(), { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    expect(await table.textContent()).toMatch(/[0-9a-f]{64}/);
    await page.getByText('Retention would delete next').waitFor();
    const href = await table.locator('a[download]').first().getAttribute('href');
    expect(href).toMatch(/\/download$/);
    expect(await seriousViolations(page)).toEqual([]);
    await page.screenshot({ path: path.join(ARTIFACTS, 'target-desktop.png'), fullPage: true });

    // The download streams the stored object with its checksum.
    const download = await fetch(`${apiUrl}${href}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(download.status).toBe(200);
    const bytes = Buffer.from(await download.arrayBuffer());
    const { createHash } = await import('node:crypto');
    expect(download.headers.get('x-checksum-sha256')).toBe(createHash('sha256').update(bytes).digest('hex'));

    // A dry-run restore from the form, followed live to its result.
    await page.getByLabel('Dry run').check();
    await page.getByRole('button', { name: 'Start restore' }).click();
    await expect
      .poll(() => page.locator('.restore-form .job-status').textContent(), { timeout: 90_000 })
      .toMatch(/Dry run passed|Restore failed/);
    expect(await page.locator('.restore-form .job-status').textContent()).toMatch(/Dry run passed/);

    // Overwrite needs the database named twice; a mismatch is refused in the page.
    await page.getByLabel('Over an existing database').check();
    await page.getByLabel('Database name', { exact: true }).fill(database.name);
    await page.getByLabel(/Type the database name again/).fill('something-else');
    await page.getByRole('button', { name: 'Start restore' }).click();
    await expect.poll(() => page.locator('.form-problem').textContent()).toContain('confirmation');
    expect(problems).toEqual([]);
  });

  it('fits a phone screen', async () => {
    const { page, problems } = await openPage(ADMIN_TOKEN, { width: 390, height: 844 });
    await page.goto(`${apiUrl}/`);
    await page.locator(`tr[data-target="${database.name}"]`).waitFor({ timeout: 20_000 });
    await page.locator('.service-list').waitFor({ timeout: 20_000 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'overview-phone.png'), fullPage: true });
    // Whatever sticks out past the viewport, named so a failure says what to fix.
    const sticksOut = await page.evaluate(`[...document.querySelectorAll('body *')]
      .filter((element) => element.getBoundingClientRect().right > window.innerWidth + 0.5)
      .map((element) => element.tagName.toLowerCase() + '.' + element.className + ' ' + Math.round(element.getBoundingClientRect().right))`);
    expect(sticksOut).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('stays usable at 500 targets: renders, sorts problems first and filters', async () => {
    const { page, problems } = await openPage(ADMIN_TOKEN);
    // The page and its script are the real ones; only the fleet answer is a synthetic 500 rows
    // (500 real databases would exhaust this machine's shared PostgreSQL).
    const statuses = ['healthy', 'degraded', 'failing'] as const;
    const now = Date.now();
    const targets = Array.from({ length: 500 }, (_, index) => ({
      name: `db-${String(index).padStart(3, '0')}`,
      environment: 'production',
      database: `db_${index}`,
      enabled: true,
      schedule: '0 3 * * *',
      timezone: 'UTC',
      status: statuses[index % 7 === 0 ? 2 : index % 5 === 0 ? 1 : 0],
      reasons: index % 7 === 0 ? ['last backup failed: PG_DUMP_FAILED'] : [],
      lastBackup: {
        filename: `db_${index}_production_20261201_030000.sql.gz`,
        finished_at: new Date(now - 3600_000).toISOString(),
        bytes: 1_000_000 + index,
        size_mb: 0.95,
        duration_ms: 4200,
        sha256: 'a'.repeat(64),
      },
      trend: Array.from({ length: 20 }, (_, day) => ({
        finished_at: new Date(now - (20 - day) * 86_400_000).toISOString(),
        bytes: 1_000_000 + day * 1000 + index,
      })),
      restoreTest: { status: 'passed', at: new Date(now - 86_400_000).toISOString(), file: 'x.sql.gz' },
      nextRun: new Date(now + 3600_000).toISOString(),
      job: null,
    }));
    const order = { failing: 0, degraded: 1, healthy: 2 };
    targets.sort((a, b) => order[a.status] - order[b.status] || a.name.localeCompare(b.name));
    const counts = { failing: 0, degraded: 0, healthy: 0 };
    for (const row of targets) counts[row.status] += 1;
    await page.route('**/api/admin/fleet', (route) =>
      route.fulfill({ json: { generatedAt: new Date().toISOString(), counts, targets } }),
    );
    const started = Date.now();
    await page.goto(`${apiUrl}/`);
    await expect.poll(() => page.locator('table.fleet tbody tr').count(), { timeout: 30_000 }).toBe(500);
    const renderMs = Date.now() - started;
    expect(await page.locator('table.fleet tbody tr').first().getAttribute('data-status')).toBe('failing');
    // Filtering runs on each keystroke; timed inside the page, without the driver's round trips.
    const filterMs = Number(
      await page.evaluate(`(() => {
        const input = document.getElementById('filter');
        const started = performance.now();
        input.value = 'db-49';
        input.dispatchEvent(new Event('input'));
        return performance.now() - started;
      })()`),
    );
    await expect.poll(() => page.locator('table.fleet tbody tr:not([hidden])').count()).toBe(10);
    await page.getByLabel('Filter by name').fill('');
    await page.getByLabel('Problems only').check();
    await expect
      .poll(() => page.locator('table.fleet tbody tr:not([hidden])').count())
      .toBe(counts.failing + counts.degraded);
    console.log(
      `console at 500 targets: first render ${renderMs} ms (page load included), one filter keystroke ${filterMs.toFixed(1)} ms`,
    );
    expect(problems).toEqual([]);
  });

  it('is read-only with the viewer token, and the API refuses its POST with 403', async () => {
    const { page, problems } = await openPage(VIEWER_TOKEN);
    const response = await page.goto(`${apiUrl}/`);
    expect(response?.status()).toBe(200);
    const row = page.locator(`tr[data-target="${database.name}"]`);
    await row.waitFor({ timeout: 20_000 });
    const buttons = page.locator('button.action');
    expect(await buttons.count()).toBeGreaterThanOrEqual(2);
    for (const button of await buttons.all()) expect(await button.isEnabled()).toBe(false);
    await page.screenshot({ path: path.join(ARTIFACTS, 'overview-viewer.png'), fullPage: true });

    const refused = await api('POST', '/api/admin/backup', VIEWER_TOKEN, { target: database.name });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ error: { code: 'FORBIDDEN' } });
    expect(problems).toEqual([]);
  });
});
