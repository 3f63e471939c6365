import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { type BackupTargetSpec, runBackup } from '@warden/backup';
import { type BackupManifest, dumpKeyFor, readManifest, writeManifest } from '@warden/catalog';
import { createLogger } from '@warden/logging';
import { createMetrics, type WardenMetrics } from '@warden/metrics';
import { createSlackNotifier, type Notifier } from '@warden/notify';
import { createRedisConnection, JOB_NAMES, QUEUE_NAMES } from '@warden/queue';
import { type BackupStorage, createLocalStorage } from '@warden/storage';
import { type Job, Queue, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRestoreEvents,
  createRestoreProcessor,
} from '../apps/worker/src/processors/restores.processor.js';
import { createTargetLock } from '../apps/worker/src/target-lock.js';
import { type HttpReceiver, startHttpReceiver } from './helpers/http-receiver.js';
import {
  createTestDatabase,
  listDatabases,
  manifestRowCounts,
  type TestDatabase,
  targetSpecFor,
  testBackupSettings,
} from './helpers/pg-fixtures.js';

const logger = createLogger({ service: 'restore-test-job-test', level: 'silent' });
const prefix = `warden-test-restore-test-job-${randomBytes(4).toString('hex')}`;
const redis = createRedisConnection({ url: 'redis://127.0.0.1:6379', role: 'worker' });
redis.on('error', () => undefined);

let source: TestDatabase;
let work: string;
let storage: BackupStorage;
let target: BackupTargetSpec;
let good: BackupManifest;
let receiver: HttpReceiver;
let notifier: Notifier;
let metrics: WardenMetrics;
let queue: Queue;
let worker: Worker;

const backupSettings = () => testBackupSettings(work, 60_000);

async function finished(job: Job): Promise<Job> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    // State first, then the job: a job read before it finished would lack its result.
    const state = await queue.getJobState(job.id ?? '');
    const fresh = state === 'completed' || state === 'failed' ? await queue.getJob(job.id ?? '') : undefined;
    if (fresh && (state === 'completed' || state === 'failed')) return fresh;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`job ${job.id} did not finish`);
}

async function metricValue(name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((entry) => entry.name === name);
  return metric?.values.find((value) => Object.entries(labels).every(([k, v]) => value.labels[k] === v))
    ?.value;
}

/**
 * A newer backup whose SQL lacks most rows of `audit.events`: re-gzipped, with a manifest whose size,
 * SHA-256 and SQL size describe the doctored file, so every integrity check passes and only the
 * restored row counts can tell.
 */
async function storeDoctoredBackup(): Promise<BackupManifest> {
  const lines = gunzipSync(await storage.readBytes(good.key))
    .toString('utf8')
    .split('\n');
  const copyAt = lines.findIndex((line) => line.startsWith('COPY audit.events '));
  const endAt = lines.indexOf('\\.', copyAt);
  expect(copyAt).toBeGreaterThan(0);
  expect(endAt - copyAt - 1).toBe(manifestRowCounts(good)['audit.events']);
  // Keep 10 rows; the sequence's setval elsewhere in the dump stays untouched.
  const doctored = Buffer.from([...lines.slice(0, copyAt + 11), ...lines.slice(endAt)].join('\n'));
  const bytes = gzipSync(doctored);
  const at = new Date(Date.parse(good.started_at) + 3_600_000);
  const stamp = at.toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 15);
  const filename = `${source.name}_test_${stamp}.sql.gz`;
  const manifest: BackupManifest = {
    ...good,
    filename,
    key: dumpKeyFor(target.name, filename),
    started_at: at.toISOString(),
    finished_at: at.toISOString(),
    bytes: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    sql_bytes: doctored.length,
  };
  delete manifest.verification;
  await storage.putBytes(manifest.key, bytes);
  await writeManifest(storage, manifest);
  return manifest;
}

beforeAll(async () => {
  source = await createTestDatabase({ prefix: 'warden_rv', seed: { orders: 4_000 } });
  work = await mkdtemp(join(tmpdir(), 'warden-restore-test-job-'));
  storage = createLocalStorage({ dir: join(work, 'store') });
  target = targetSpecFor(source);
  good = await runBackup({ storage, logger }, { ...backupSettings(), target, retention: false });
  receiver = await startHttpReceiver();
  metrics = createMetrics({ prefix: 'warden_', collectDefaultMetrics: false });
  notifier = createSlackNotifier({
    webhookUrl: `${receiver.url}/services/T0/B0/restore-test`,
    botName: 'Warden Test',
    redis,
    keyPrefix: `${prefix}:alerts`,
    throttleSeconds: 600,
    logger,
    retries: 0,
  });
  queue = new Queue(QUEUE_NAMES.restores, { connection: redis, prefix });
  queue.on('error', () => undefined);
  worker = new Worker(
    QUEUE_NAMES.restores,
    createRestoreProcessor({
      targets: [target],
      settings: {
        spoolDir: join(work, 'restore-spool'),
        minFreeBytes: 0,
        psqlPath: 'psql',
        timeoutMs: 60_000,
        safetyBackup: {
          ...backupSettings(),
          compression: 'gzip',
          gzipLevel: 1,
          gzipEngine: 'zlib',
          rowCounts: true,
          pgDumpPath: 'pg_dump',
        },
      },
      storage,
      logger,
      events: createRestoreEvents({ logger, notifier, metrics }),
      lockFor: (name) => createTargetLock({ redis, key: `${prefix}:lock:backup:${name}` }),
    }),
    { connection: createRedisConnection({ url: 'redis://127.0.0.1:6379', role: 'worker' }), prefix },
  );
  worker.on('error', () => undefined);
  await worker.waitUntilReady();
});

afterAll(async () => {
  await worker?.close();
  await queue?.obliterate({ force: true }).catch(() => undefined);
  await queue?.close();
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await notifier?.close();
  await redis.quit();
  await receiver?.close();
  await source?.drop();
  await storage?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('restore.verify job', () => {
  it('passes on a good backup: records it in the manifest, sets the metrics, drops the scratch database', async () => {
    const before = await listDatabases();
    const job = await queue.add(JOB_NAMES.restoreVerify, { target: target.name, trigger: 'schedule' });
    const done = await finished(job);
    expect(done.failedReason).toBeUndefined();
    expect(done.returnvalue).toMatchObject({
      status: 'passed',
      file: good.filename,
      tables: 5,
      check: { rowCounts: 'matched', content: 'matched', locale: 'matched', tables: 5 },
    });

    const manifest = await readManifest(storage, target.name, good.filename);
    expect(manifest?.verification).toMatchObject({ status: 'passed' });
    expect(manifest?.verification?.database).toMatch(new RegExp(`^${source.name}_verify_\\d{8}_\\d{6}$`));
    // Only this test's databases: other test files create and drop theirs meanwhile.
    const ours = (names: string[]) => names.filter((name) => name.startsWith(source.name));
    expect(ours(await listDatabases())).toEqual(ours(before));
    expect(
      await metricValue('warden_last_verified_restore_timestamp_seconds', { target: target.name }),
    ).toBeCloseTo(Date.parse(manifest?.verification?.at ?? '') / 1000, 0);
    expect(
      await metricValue('warden_restore_verifications_total', { target: target.name, result: 'success' }),
    ).toBe(1);
    expect(receiver.requests).toHaveLength(0);
  });

  it('fails on a backup doctored to lose rows, alerts Slack and records the failure', async () => {
    const doctored = await storeDoctoredBackup();
    const before = await listDatabases();
    const job = await queue.add(JOB_NAMES.restoreVerify, { target: target.name, trigger: 'schedule' });
    const done = await finished(job);
    expect(await done.getState()).toBe('failed');
    expect(done.failedReason).toMatch(/^RESTORE_VERIFICATION_FAILED: backup .* "audit"\."events": 2000 rows/);
    // Permanent: no retry of a bad backup.
    expect(done.attemptsMade).toBe(1);

    const [alert] = await receiver.waitFor(1);
    expect(alert?.text).toContain(`Restore test of ${target.name} failed`);
    // The body is JSON: the quoted identifiers arrive escaped.
    expect(alert?.text).toContain(
      JSON.stringify(`table "audit"."events": 2000 rows in the backup's snapshot, 10 after restore`).slice(
        1,
        -1,
      ),
    );
    expect(alert?.text).toContain(doctored.filename);

    const manifest = await readManifest(storage, target.name, doctored.filename);
    expect(manifest?.verification?.status).toBe('failed');
    expect(manifest?.verification?.problems).toEqual([
      `table "audit"."events": 2000 rows in the backup's snapshot, 10 after restore`,
    ]);
    // The good one keeps its passed restore test; no scratch database is left behind.
    expect((await readManifest(storage, target.name, good.filename))?.verification?.status).toBe('passed');
    // Only this test's databases: other test files create and drop theirs meanwhile.
    const ours = (names: string[]) => names.filter((name) => name.startsWith(source.name));
    expect(ours(await listDatabases())).toEqual(ours(before));
    expect(
      await metricValue('warden_restore_verifications_total', { target: target.name, result: 'failure' }),
    ).toBe(1);
  });

  it('restore.run jobs restore the latest good backup (skipping the one that failed its test)', async () => {
    const job = await queue.add(JOB_NAMES.restoreRun, {
      target: target.name,
      file: 'latest',
      dryRun: true,
      overwrite: false,
      trigger: 'api',
    });
    const done = await finished(job);
    expect(done.failedReason).toBeUndefined();
    expect(done.returnvalue).toMatchObject({ status: 'dry-run', file: good.filename, action: 'create' });
    expect(done.progress).toMatchObject({ phase: 'done', percent: 100 });
  });

  it('restore.run into an existing database without overwrite fails permanently', async () => {
    const job = await queue.add(JOB_NAMES.restoreRun, {
      target: target.name,
      file: good.filename,
      database: source.name,
      overwrite: false,
      dryRun: false,
      trigger: 'api',
    });
    const done = await finished(job);
    expect(done.failedReason).toMatch(/^RESTORE_DATABASE_EXISTS: database ".*" already exists/);
    expect(done.attemptsMade).toBe(1);
  });
});
