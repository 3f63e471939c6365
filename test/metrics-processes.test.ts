/**
 * Issue 5: `curl /metrics | promtool check metrics` passes on both real processes, and each process
 * exposes the metrics the alert rules (deploy/prometheus/alerts.yml) query: the worker its backup
 * metrics (failure counters present at 0 from the start, so `increase()` works after a restart),
 * the API the probe results (probe status, queue jobs, live workers, last good backup).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { JOB_NAMES } from '@warden/queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleValue } from './helpers/alerts-receivers.js';
import { uniquePrefix } from './helpers/api-fixtures.js';
import { createTestDatabase, type TestDatabase, withClient } from './helpers/pg-fixtures.js';
import { startWardenProcess, testEnv, type WardenProcess, waitFor } from './helpers/processes.js';
import { createTestQueue } from './helpers/queues.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const has = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
const tools = has('promtool') && has('curl');
if (!tools) console.warn('metrics-processes: promtool or curl is not on PATH; skipped');

const prefix = uniquePrefix('metrics-processes');
const testQueue = createTestQueue({ prefix });
const { queue } = testQueue;
let workDir: string;
let database: TestDatabase;
let worker: WardenProcess;
let api: WardenProcess;
let workerMetricsUrl: string;
let apiMetricsUrl: string;

/** Literally `curl -fsS <url> | promtool check metrics`, with both exit codes. */
function curlPromtool(url: string): { status: number | null; output: string } {
  const result = spawnSync(
    'bash',
    // --norc: bash may source ~/.bashrc even for -c when stdin looks remote.
    ['--norc', '--noprofile', '-o', 'pipefail', '-c', 'curl -fsS "$METRICS_URL" | promtool check metrics'],
    { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', METRICS_URL: url } },
  );
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

const scrape = async (url: string) => (await fetch(url)).text();

beforeAll(async () => {
  if (!tools) return;
  workDir = await mkdtemp(path.join(tmpdir(), 'warden-metrics-processes-'));
  database = await createTestDatabase({ prefix: 'warden_metrics', seed: false });
  await withClient(database.name, (client) =>
    client.query(`CREATE TABLE t AS SELECT i AS id, md5(i::text) AS v FROM generate_series(1, 1000) AS i`),
  );
  const env = testEnv({
    DATABASE_URL: database.url,
    BACKUP_ENVIRONMENT: 'metrics',
    BACKUP_DIR: path.join(workDir, 'backups'),
    BACKUP_SPOOL_DIR: path.join(workDir, 'spool'),
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    PROBE_INTERVAL_SECONDS: '5',
    PORT: '0',
    WORKER_METRICS_PORT: '0',
    LOG_LEVEL: 'info',
  });
  worker = startWardenProcess('apps/worker/src/main.ts', env);
  const workerListening = await worker.waitForLine(/"msg":"worker metrics listening"/, 60_000);
  workerMetricsUrl = `http://127.0.0.1:${(JSON.parse(workerListening) as { port: number }).port}/metrics`;
  api = startWardenProcess('apps/api/src/main.ts', env);
  const apiListening = await api.waitForLine(/"msg":"api listening"/, 60_000);
  const address = new URL(String((JSON.parse(apiListening) as { address: string }).address));
  apiMetricsUrl = `http://127.0.0.1:${address.port}/metrics`;
});

afterAll(async () => {
  await Promise.all([worker?.stop('SIGKILL'), api?.stop('SIGKILL')]);
  await testQueue.close();
  await database?.drop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe.skipIf(!tools)('/metrics of the real processes', () => {
  it('worker: backup counters exist at 0 from the start, and promtool accepts the output', async () => {
    const text = await scrape(workerMetricsUrl);
    const target = `target="${database.name}"`;
    expect(
      sampleValue(text, 'warden_backup_failures_total', [target, 'reason="PREFLIGHT_CONNECT_FAILED"']),
    ).toBe(0);
    expect(sampleValue(text, 'warden_backup_failures_total', [target, 'reason="UPLOAD_FAILED"'])).toBe(0);
    expect(sampleValue(text, 'warden_backup_upload_retries_total', [target])).toBe(0);
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(curlPromtool(workerMetricsUrl)).toEqual({ status: 0, output: '' });
  });

  it('worker: a backup sets the last-success time, duration and size; promtool still passes', async () => {
    const job = await queue.add(JOB_NAMES.backupCreate, { target: database.name, trigger: 'api' });
    await waitFor(
      async () => ((await (await queue.getJob(job.id ?? ''))?.getState()) === 'completed' ? true : undefined),
      60_000,
      'the backup',
    );
    const text = await scrape(workerMetricsUrl);
    const target = `target="${database.name}"`;
    const last = sampleValue(text, 'warden_backup_last_success_timestamp_seconds', [target]);
    expect(last).toBeGreaterThan(Date.now() / 1000 - 120);
    expect(sampleValue(text, 'warden_backup_size_bytes', [target])).toBeGreaterThan(0);
    expect(sampleValue(text, 'warden_backup_duration_seconds', [target])).toBeGreaterThan(0);
    expect(sampleValue(text, 'warden_notifications_total', ['channel="slack"', 'outcome="logged"'])).toBe(1);
    expect(curlPromtool(workerMetricsUrl)).toEqual({ status: 0, output: '' });
  });

  it('API: probe results and HTTP metrics are exposed, and promtool accepts the output', async () => {
    const text = await waitFor(
      async () => {
        const body = await scrape(apiMetricsUrl);
        // The probe cycle after the backup reads the last good backup back from storage.
        return sampleValue(body, 'warden_backup_last_success_timestamp_seconds', [
          `target="${database.name}"`,
        ])
          ? body
          : undefined;
      },
      30_000,
      'a probe cycle after the backup',
    );
    for (const probe of ['database', 'redis', 'disk', 'workers', 'queues', 'backups']) {
      expect(sampleValue(text, 'warden_probe_status', [`probe="${probe}"`]), probe).toBe(0);
    }
    expect(sampleValue(text, 'warden_workers_active', ['queue="backups"'])).toBe(1);
    expect(sampleValue(text, 'warden_queue_jobs', ['queue="backups"', 'state="completed"'])).toBe(1);
    expect(sampleValue(text, 'warden_disk_usage_ratio')).toBeGreaterThan(0);
    expect(text).toContain('warden_http_requests_total{');
    expect(text).toContain('service="api"');
    expect(curlPromtool(apiMetricsUrl)).toEqual({ status: 0, output: '' });
  });

  it('really checks: promtool rejects a malformed exposition served the same way', () => {
    const result = spawnSync(
      'bash',
      ['--norc', '--noprofile', '-o', 'pipefail', '-c', 'printf "bad metric{\\n" | promtool check metrics'],
      {
        encoding: 'utf8',
      },
    );
    expect(result.status).not.toBe(0);
  });
});
