import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './faults/fault-helpers.js';
import { type SlackReceiver, startSlackReceiver } from './helpers/alerts-receivers.js';
import { createTestDatabase, type TestDatabase } from './helpers/pg-fixtures.js';
import { runWardenCli, testEnv } from './helpers/processes.js';
import { s3rverEnv } from './helpers/s3-server.js';
import { uniquePrefix } from './helpers/test-run.js';

describe('npm run backup:create when the upload fails', () => {
  let work: string;
  let database: TestDatabase;
  let slack: SlackReceiver;
  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'warden-create-cli-'));
    database = await createTestDatabase({ prefix: 'warden_cli_up', seed: { orders: 500 } });
    slack = await startSlackReceiver();
  });
  afterAll(async () => {
    await slack?.receiver.close();
    await database?.drop();
    await rm(work, { recursive: true, force: true });
  });

  it('reports every failed attempt with the path of the integrity-checked dump it keeps', async () => {
    const spoolDir = path.join(work, 'spool');
    // Nothing listens on this port: the streamed upload and the retry both fail.
    const closed = await freePort();
    const run = await runWardenCli(
      'apps/worker/src/cli/backup-create.ts',
      [],
      testEnv({
        DATABASE_URL: database.url,
        BACKUP_ENVIRONMENT: 'test',
        ...s3rverEnv(`http://127.0.0.1:${closed}`, 'warden-cli-upload'),
        BACKUP_SPOOL_DIR: spoolDir,
        BACKUP_MIN_FREE_MB: '0',
        UPLOAD_RETRY_ATTEMPTS: '1',
        UPLOAD_RETRY_DELAY_MS: '100',
        SLACK_WEBHOOK_URL: slack.webhookUrl,
        REDIS_URL: 'redis://127.0.0.1:6379',
        QUEUE_PREFIX: uniquePrefix('create-cli'),
        LOG_LEVEL: 'warn',
      }),
    );
    expect(run.code, run.stderr).toBe(1);
    expect(JSON.parse(run.stdout.trim())).toMatchObject({ status: 'failed', code: 'UPLOAD_FAILED' });
    const alerts = await slack.waitForMessages(
      (message) => message.key.startsWith('backup-upload'),
      2,
      10_000,
    );
    for (const alert of alerts) {
      const spoolFile = alert.fields['Spool file'] ?? '';
      expect(path.dirname(spoolFile)).toBe(spoolDir);
      expect(existsSync(spoolFile), spoolFile).toBe(true);
      expect(alert.fields.File).toMatch(/\.sql\.gz$/);
    }
  });
});
