import { existsSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { QUEUE_NAMES } from '@warden/queue';
import { Worker } from 'bullmq';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiFixture, bearer, createApiFixture, REDIS_URL, TEST_TOKEN } from './helpers/api-fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.resolve(import.meta.dirname, '..', 'test-artifacts');
const VIEWER_TOKEN = 'board-viewer-token-0123456789';

describe.skipIf(!existsSync(CHROMIUM))('Bull Board in a real browser', () => {
  let fixture: ApiFixture;
  let browser: Browser;
  let baseUrl: string;
  let completedJobId: string;

  beforeAll(async () => {
    fixture = await createApiFixture({ name: 'board', env: { VIEWER_API_TOKEN: VIEWER_TOKEN } });
    await fixture.app.listen({ host: '127.0.0.1', port: 0 });
    baseUrl = `http://127.0.0.1:${(fixture.app.server.address() as AddressInfo).port}`;

    // One backup job, completed by a trivial worker with a fake backup result.
    const queued = await fixture.app.inject({
      method: 'POST',
      url: '/api/admin/backup',
      headers: bearer(),
      payload: {},
    });
    completedJobId = queued.json().jobId;
    const worker = new Worker(
      QUEUE_NAMES.backups,
      async () => ({
        status: 'success',
        filename: 'app_test_20250101_030000.sql.gz',
        size_mb: 1.18,
        target: 'app',
        environment: 'test',
        bytes: 1_234_567,
        sha256: 'b'.repeat(64),
        duration_ms: 1_000,
        location: 'test://app/app_test_20250101_030000.sql.gz',
      }),
      { connection: { url: REDIS_URL, maxRetriesPerRequest: null }, prefix: fixture.prefix },
    );
    worker.on('error', () => undefined);
    await new Promise<void>((resolve) => worker.on('completed', () => resolve()));
    await worker.close();

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await fixture?.close();
  });

  it('makes a browser without credentials ask for them, and refuses wrong ones', async () => {
    const anonymous = await browser.newContext();
    try {
      const page = await anonymous.newPage();
      // Headless Chromium cannot show the login dialog a Basic challenge opens, so it aborts the
      // navigation with this error; without the challenge it would render the 401 body instead.
      await expect(page.goto(`${baseUrl}/admin/queues`)).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
    } finally {
      await anonymous.close();
    }
    const wrong = await browser.newContext({
      httpCredentials: { username: 'admin', password: 'not-the-token-at-all' },
    });
    try {
      const page = await wrong.newPage();
      const response = await page.goto(`${baseUrl}/admin/queues`);
      expect(response?.status()).toBe(401);
      expect(await page.locator('body').innerText()).toContain('UNAUTHORIZED');
    } finally {
      await wrong.close();
    }
  });

  it('shows every Warden queue and the completed backup job under Basic credentials', async () => {
    const context = await browser.newContext({
      httpCredentials: { username: 'operator', password: TEST_TOKEN },
      viewport: { width: 1400, height: 900 },
    });
    const cspViolations: string[] = [];
    const failedScripts: string[] = [];
    try {
      const page = await context.newPage();
      page.on('console', (message) => {
        if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
      });
      page.on('requestfailed', (request) => {
        if (request.resourceType() === 'script') failedScripts.push(request.url());
      });

      const response = await page.goto(`${baseUrl}/admin/queues`);
      expect(response?.status()).toBe(200);
      // The board renders client-side: wait for the queue list, not the loading spinner.
      for (const queue of [QUEUE_NAMES.backups, QUEUE_NAMES.restores, QUEUE_NAMES.probes]) {
        await page.getByRole('link', { name: queue, exact: false }).first().waitFor({ timeout: 30_000 });
      }
      const overview = await page.locator('body').innerText();
      expect(overview).toContain('backups');
      expect(overview).toContain('restores');
      expect(overview).toContain('probes');

      await page.goto(`${baseUrl}/admin/queues/queue/${QUEUE_NAMES.backups}?status=completed`);
      await page.getByText(completedJobId, { exact: false }).first().waitFor({ timeout: 30_000 });
      const queuePage = await page.locator('body').innerText();
      expect(queuePage).toContain(completedJobId);
      expect(queuePage).toContain('app_test_20250101_030000.sql.gz');

      await mkdir(ARTIFACTS, { recursive: true });
      const screenshot = path.join(ARTIFACTS, 'bull-board.png');
      await page.screenshot({ path: screenshot, fullPage: true });
      expect(statSync(screenshot).size).toBeGreaterThan(10_000);

      expect(cspViolations).toEqual([]);
      expect(failedScripts).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('shows the viewer token a read-only board: the same jobs, no buttons that change state', async () => {
    const buttonsFor = async (password: string) => {
      const context = await browser.newContext({ httpCredentials: { username: 'someone', password } });
      try {
        const page = await context.newPage();
        await page.goto(`${baseUrl}/admin/queues/queue/${QUEUE_NAMES.backups}?status=completed`);
        await page.getByText(completedJobId, { exact: false }).first().waitFor({ timeout: 30_000 });
        return {
          cleanAll: await page.getByRole('button', { name: 'Clean all' }).count(),
          retry: await page.getByRole('button', { name: 'Retry', exact: true }).count(),
        };
      } finally {
        await context.close();
      }
    };
    // BULL_BOARD_READ_ONLY is false here: the admin has the buttons, the viewer does not.
    const admin = await buttonsFor(TEST_TOKEN);
    expect(admin.cleanAll + admin.retry).toBeGreaterThan(0);
    expect(await buttonsFor(VIEWER_TOKEN)).toEqual({ cleanAll: 0, retry: 0 });
  });

  it('renders the API docs (Swagger UI) under the same CSP', async () => {
    const context = await browser.newContext({
      httpCredentials: { username: 'operator', password: TEST_TOKEN },
    });
    const cspViolations: string[] = [];
    try {
      const page = await context.newPage();
      page.on('console', (message) => {
        if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
      });
      await page.goto(`${baseUrl}/docs`);
      await page.getByText('/api/admin/backup/restore').first().waitFor({ timeout: 30_000 });
      expect(cspViolations).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
