import { JOB_NAMES, QUEUE_NAMES } from '@warden/queue';
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { syncSchedulers } from '../apps/api/src/schedules.js';
import {
  type ApiFixture,
  bearer,
  createApiFixture,
  makeManifest,
  makeTarget,
  REDIS_URL,
  storeBackup,
} from './helpers/api-fixtures.js';

const app = makeTarget('app');
const billing = makeTarget('billing', { environment: 'production' });

function postBackup(fixture: ApiFixture, payload: object | undefined = {}) {
  return fixture.app.inject({
    method: 'POST',
    url: '/api/admin/backup',
    headers: bearer(),
    ...(payload === undefined ? {} : { payload }),
  });
}

async function runOneJob(fixture: ApiFixture, queue: string, processor: (job: Job) => Promise<unknown>) {
  const worker = new Worker(queue, processor, {
    connection: { url: REDIS_URL, maxRetriesPerRequest: null },
    prefix: fixture.prefix,
  });
  worker.on('error', () => undefined);
  const finished = new Promise<void>((resolve) => {
    worker.on('completed', () => resolve());
    worker.on('failed', () => resolve());
  });
  await finished;
  await worker.close();
}

describe('POST /api/admin/backup', () => {
  let fixture: ApiFixture;
  beforeAll(async () => {
    fixture = await createApiFixture({ name: 'backup', targets: [app] });
  });
  afterEach(async () => {
    await fixture.queues.backups.obliterate({ force: true });
  });
  afterAll(async () => {
    await fixture?.close();
  });

  it('queues a backup of the only target (no body needed) and answers 202 with the job', async () => {
    const response = await postBackup(fixture, undefined);
    expect(response.statusCode).toBe(202);
    const body = response.json();
    expect(body).toEqual({
      jobId: expect.stringMatching(/^backup-app-/),
      target: 'app',
      statusUrl: `/api/admin/jobs/${body.jobId}`,
      deduplicated: false,
    });
    const job = await fixture.queues.backups.getJob(body.jobId);
    expect(job?.name).toBe(JOB_NAMES.backupCreate);
    expect(job?.data).toEqual({ target: 'app', trigger: 'api' });
    expect(await job?.getState()).toBe('waiting');
  });

  it('answers a second request with the job already waiting (deduplication)', async () => {
    const first = (await postBackup(fixture, { target: 'app', reason: 'before migration' })).json();
    const second = await postBackup(fixture, { target: 'app' });
    expect(second.statusCode).toBe(202);
    expect(second.json()).toMatchObject({ jobId: first.jobId, deduplicated: true });
    // Racing requests too: the deduplication key is set atomically in Redis.
    const racing = await Promise.all(Array.from({ length: 5 }, () => postBackup(fixture, { target: 'app' })));
    for (const response of racing) expect(response.json().jobId).toBe(first.jobId);
    expect(await fixture.queues.backups.getJobCounts('waiting', 'active', 'delayed')).toEqual({
      waiting: 1,
      active: 0,
      delayed: 0,
    });
    const job = await fixture.queues.backups.getJob(first.jobId);
    expect(job?.data.reason).toBe('before migration');
  });

  it('answers with a scheduled backup of the target that is already waiting', async () => {
    const scheduled = await fixture.queues.backups.add(JOB_NAMES.backupCreate, {
      target: 'app',
      trigger: 'schedule',
    });
    const response = await postBackup(fixture, { target: 'app' });
    expect(response.json()).toMatchObject({ jobId: scheduled.id, deduplicated: true });
  });

  it('queues a new backup once the previous one completed, and reports its result', async () => {
    const first = (await postBackup(fixture, { target: 'app' })).json();
    const result = {
      status: 'success',
      filename: 'app_test_20250101_030000.sql.gz',
      size_mb: 1.18,
      target: 'app',
      environment: 'test',
      bytes: 1_234_567,
      sha256: 'a'.repeat(64),
      duration_ms: 4_000,
      location: '/backups/app/app_test_20250101_030000.sql.gz',
    };
    await runOneJob(fixture, QUEUE_NAMES.backups, async (job) => {
      await job.updateProgress({ phase: 'done', percent: 100 });
      return result;
    });
    const status = await fixture.app.inject({ url: first.statusUrl, headers: bearer() });
    expect(status.statusCode).toBe(200);
    expect(status.json()).toMatchObject({
      id: first.jobId,
      queue: 'backups',
      name: JOB_NAMES.backupCreate,
      state: 'completed',
      progress: { phase: 'done', percent: 100 },
      attempts: 1,
      maxAttempts: 3,
      data: { target: 'app', trigger: 'api' },
      result,
      timestamps: {
        created: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        processed: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        finished: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      },
    });
    expect(status.json()).not.toHaveProperty('failedReason');

    const next = (await postBackup(fixture, { target: 'app' })).json();
    expect(next.jobId).not.toBe(first.jobId);
    expect(next.deduplicated).toBe(false);
  });

  it('reports a failed job with its reason and no stack', async () => {
    const { jobId } = (await postBackup(fixture, { target: 'app' })).json();
    await runOneJob(fixture, QUEUE_NAMES.backups, async () => {
      throw new UnrecoverableError('pg_dump 14 cannot dump server 15');
    });
    const status = (await fixture.app.inject({ url: `/api/admin/jobs/${jobId}`, headers: bearer() })).json();
    expect(status.state).toBe('failed');
    expect(status.failedReason).toBe('pg_dump 14 cannot dump server 15');
    expect(status).not.toHaveProperty('result');
    expect(status).not.toHaveProperty('stacktrace');
  });

  it('answers unknown job ids with 404 JOB_NOT_FOUND', async () => {
    const response = await fixture.app.inject({ url: '/api/admin/jobs/backup-app-nope', headers: bearer() });
    expect(response.statusCode).toBe(404);
    expect(response.json().error.code).toBe('JOB_NOT_FOUND');
  });
});

describe('several targets', () => {
  let fixture: ApiFixture;
  beforeAll(async () => {
    fixture = await createApiFixture({ name: 'targets', targets: [app, billing] });
  });
  afterAll(async () => {
    await fixture?.close();
  });

  it('requires a target, and answers an unknown one with 404 listing the known ones', async () => {
    const missing = await postBackup(fixture, {});
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error).toMatchObject({ code: 'TARGET_REQUIRED', targets: ['app', 'billing'] });
    const unknown = await postBackup(fixture, { target: 'payroll' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toEqual({
      error: {
        code: 'TARGET_NOT_FOUND',
        message: 'unknown target "payroll"; known targets: app, billing',
        targets: ['app', 'billing'],
      },
    });
  });

  it('deduplicates per target, not across targets', async () => {
    const a = (await postBackup(fixture, { target: 'app' })).json();
    const b = (await postBackup(fixture, { target: 'billing' })).json();
    expect(a.jobId).not.toBe(b.jobId);
    expect(b.deduplicated).toBe(false);
  });

  it('lists targets without connection URLs', async () => {
    const response = await fixture.app.inject({ url: '/api/admin/targets', headers: bearer() });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      backupEnabled: true,
      targets: [
        {
          name: 'app',
          environment: 'test',
          database: 'app',
          schedule: '0 3 * * *',
          timezone: 'UTC',
          retentionDays: 30,
          keepLast: 1,
          enabled: true,
        },
        expect.objectContaining({ name: 'billing', environment: 'production' }),
      ],
    });
    expect(response.body).not.toContain('postgres://');
    expect(response.body).not.toContain('s3cret-pass');
  });

  it('lists every job scheduler with cron, timezone and next run', async () => {
    await syncSchedulers({
      queues: fixture.queues,
      config: fixture.config,
      logger: fixture.app.log as never,
    });
    const response = await fixture.app.inject({ url: '/api/admin/schedules', headers: bearer() });
    expect(response.statusCode).toBe(200);
    const schedules = response.json().schedules as Record<string, unknown>[];
    expect(schedules.map((schedule) => `${schedule.queue}/${schedule.id}`).sort()).toEqual([
      'backups/backup:app',
      'backups/backup:billing',
      'probes/probes',
      'restores/restore-verify:app',
      'restores/restore-verify:billing',
    ]);
    const backup = schedules.find((schedule) => schedule.id === 'backup:app');
    expect(backup).toMatchObject({
      queue: 'backups',
      jobName: JOB_NAMES.backupCreate,
      pattern: '0 3 * * *',
      timezone: 'UTC',
      target: 'app',
      every: null,
    });
    expect(Date.parse(String(backup?.next))).toBeGreaterThan(Date.now());
    expect(new Date(String(backup?.next)).getUTCHours()).toBe(3);
    expect(schedules.find((schedule) => schedule.id === 'probes')).toMatchObject({
      every: 60_000,
      pattern: null,
    });
  });
});

describe('backup catalog and restores', () => {
  let fixture: ApiFixture;
  const times = [1, 2, 3, 4, 5].map((day) => new Date(Date.UTC(2025, 0, day, 3, 0, 0)));
  beforeAll(async () => {
    fixture = await createApiFixture({ name: 'catalog', targets: [app, billing] });
    for (const time of times) await storeBackup(fixture.storage, makeManifest(app, time, fixture.storage));
    await storeBackup(
      fixture.storage,
      makeManifest(billing, new Date(Date.UTC(2025, 0, 3, 12)), fixture.storage),
    );
  });
  afterAll(async () => {
    await fixture?.close();
  });

  it("lists backups newest first with the backup result's fields, and pages with nextBefore", async () => {
    const all = (await fixture.app.inject({ url: '/api/admin/backups', headers: bearer() })).json();
    expect(all.backups).toHaveLength(6);
    expect(all.nextBefore).toBeNull();
    const starts = all.backups.map((backup: { started_at: string }) => backup.started_at);
    expect(starts).toEqual([...starts].sort().reverse());
    expect(all.backups[0]).toMatchObject({
      status: 'success',
      filename: 'app_test_20250105_030000.sql.gz',
      size_mb: 1.18,
      target: 'app',
      environment: 'test',
      bytes: 1_234_567,
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      duration_ms: 5_000,
      location: expect.stringContaining('app/app_test_20250105_030000.sql.gz'),
      encrypted: false,
    });
    expect(all.backups[0]).not.toHaveProperty('row_counts');

    const page1 = (
      await fixture.app.inject({ url: '/api/admin/backups?target=app&limit=2', headers: bearer() })
    ).json();
    expect(page1.backups.map((backup: { filename: string }) => backup.filename)).toEqual([
      'app_test_20250105_030000.sql.gz',
      'app_test_20250104_030000.sql.gz',
    ]);
    expect(page1.nextBefore).toBe('app_test_20250104_030000.sql.gz');
    const page2 = (
      await fixture.app.inject({
        url: `/api/admin/backups?target=app&limit=2&before=${page1.nextBefore}`,
        headers: bearer(),
      })
    ).json();
    expect(page2.backups.map((backup: { filename: string }) => backup.filename)).toEqual([
      'app_test_20250103_030000.sql.gz',
      'app_test_20250102_030000.sql.gz',
    ]);
    const page3 = (
      await fixture.app.inject({
        url: `/api/admin/backups?target=app&limit=2&before=${page2.nextBefore}`,
        headers: bearer(),
      })
    ).json();
    expect(page3.backups).toHaveLength(1);
    expect(page3.nextBefore).toBeNull();

    const byTime = (
      await fixture.app.inject({ url: '/api/admin/backups?before=2025-01-03T06:00:00Z', headers: bearer() })
    ).json();
    expect(byTime.backups.map((backup: { filename: string }) => backup.filename)).toEqual([
      'app_test_20250103_030000.sql.gz',
      'app_test_20250102_030000.sql.gz',
      'app_test_20250101_030000.sql.gz',
    ]);
  });

  it('queues a restore on the restores queue', async () => {
    const response = await fixture.app.inject({
      method: 'POST',
      url: '/api/admin/backup/restore',
      headers: bearer(),
      payload: { file: 'app_test_20250103_030000.sql.gz', target: 'app', database: 'app_copy', dryRun: true },
    });
    expect(response.statusCode).toBe(202);
    const body = response.json();
    expect(body).toEqual({
      jobId: expect.stringMatching(/^restore-app-/),
      target: 'app',
      file: 'app_test_20250103_030000.sql.gz',
      database: 'app_copy',
      dryRun: true,
      overwrite: false,
      statusUrl: `/api/admin/jobs/${body.jobId}`,
    });
    const job = await fixture.queues.restores.getJob(body.jobId);
    expect(job?.name).toBe(JOB_NAMES.restoreRun);
    expect(job?.data).toEqual({
      target: 'app',
      file: 'app_test_20250103_030000.sql.gz',
      database: 'app_copy',
      overwrite: false,
      dryRun: true,
      trigger: 'api',
    });
    const status = (await fixture.app.inject({ url: body.statusUrl, headers: bearer() })).json();
    expect(status).toMatchObject({ id: body.jobId, queue: 'restores', state: 'waiting', maxAttempts: 1 });
  });

  it('needs overwrite: true to restore over a database Warden backs up', async () => {
    for (const database of ['app', 'billing']) {
      const refused = await fixture.app.inject({
        method: 'POST',
        url: '/api/admin/backup/restore',
        headers: bearer(),
        payload: { file: 'latest', target: 'app', database },
      });
      expect(refused.statusCode, database).toBe(400);
      expect(refused.json().error.code).toBe('OVERWRITE_REQUIRED');
    }
    const allowed = await fixture.app.inject({
      method: 'POST',
      url: '/api/admin/backup/restore',
      headers: bearer(),
      payload: { file: 'latest', target: 'app', database: 'app', overwrite: true },
    });
    expect(allowed.statusCode).toBe(202);
    expect(allowed.json()).toMatchObject({ file: 'latest', database: 'app', overwrite: true });
  });

  it('answers 404 for a backup that is not in storage', async () => {
    const missing = await fixture.app.inject({
      method: 'POST',
      url: '/api/admin/backup/restore',
      headers: bearer(),
      payload: { file: 'app_test_20240101_030000.sql.gz', target: 'app' },
    });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('BACKUP_NOT_FOUND');
    const other = await createApiFixture({ name: 'catalog-empty', targets: [app] });
    try {
      const latest = await other.app.inject({
        method: 'POST',
        url: '/api/admin/backup/restore',
        headers: bearer(),
        payload: { file: 'latest' },
      });
      expect(latest.statusCode).toBe(404);
      expect(latest.json().error).toEqual({
        code: 'BACKUP_NOT_FOUND',
        message: 'target "app" has no backups yet',
      });
    } finally {
      await other.close();
    }
  });
});

describe('health, metrics and docs', () => {
  let fixture: ApiFixture;
  beforeAll(async () => {
    fixture = await createApiFixture({ name: 'health' });
  });
  afterAll(async () => {
    await fixture?.close();
  });

  it('serves cheap liveness', async () => {
    const response = await fixture.app.inject({ url: '/health' });
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain('"status":"healthy"');
    expect(response.json()).toMatchObject({ timestamp: expect.any(Number), service: 'warden' });
  });

  it('serves the detailed report, 503 only when unhealthy', async () => {
    const report = {
      status: 'degraded' as const,
      timestamp: 1_705_305_600,
      services: {
        database: { status: 'healthy' as const, response_time_ms: 5.23 },
        disk: { status: 'degraded' as const, usage_percent: 85.1, free_gb: 10.5 },
      },
    };
    fixture.health.report = report;
    const degraded = await fixture.app.inject({ url: '/health/detailed' });
    expect(degraded.statusCode).toBe(200);
    expect(degraded.json()).toEqual(report);
    fixture.health.report = { ...report, status: 'unhealthy' };
    const unhealthy = await fixture.app.inject({ url: '/health/detailed' });
    expect(unhealthy.statusCode).toBe(503);
    expect(unhealthy.json().status).toBe('unhealthy');
  });

  it('counts requests by route template, with unknown routes as "unmatched"', async () => {
    await fixture.app.inject({ url: '/api/admin/jobs/backup-app-123', headers: bearer() });
    await fixture.app.inject({ url: '/api/admin/jobs/backup-app-456', headers: bearer() });
    await fixture.app.inject({ url: '/no/such/path/abc' });
    const metrics = await fixture.app.inject({ url: '/metrics' });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.headers['content-type']).toMatch(/text\/plain/);
    expect(metrics.body).toContain(
      'warden_http_requests_total{method="GET",route="/api/admin/jobs/:id",status_code="404"} 2',
    );
    expect(metrics.body).toContain(
      'warden_http_requests_total{method="GET",route="unmatched",status_code="404"} 1',
    );
    expect(metrics.body).toMatch(
      /warden_http_request_duration_seconds_count\{method="GET",route="\/api\/admin\/jobs\/:id",status_code="404"\} 2/,
    );
    expect(metrics.body).not.toContain('backup-app-123');
    expect(metrics.body).not.toContain('/no/such/path');
  });

  it('answers /metrics with 404 when metrics are disabled', async () => {
    const disabled = await createApiFixture({ name: 'nometrics', env: { ENABLE_PROMETHEUS: 'false' } });
    try {
      const response = await disabled.app.inject({ url: '/metrics' });
      expect(response.statusCode).toBe(404);
      expect(response.json().error.code).toBe('METRICS_DISABLED');
    } finally {
      await disabled.close();
    }
  });

  it('shows every queue on Bull Board, read-only when BULL_BOARD_READ_ONLY=true', async () => {
    const writable = (
      await fixture.app.inject({ url: '/admin/queues/api/queues', headers: bearer() })
    ).json();
    expect(writable.queues.map((queue: { name: string }) => queue.name).sort()).toEqual([
      'backups',
      'probes',
      'restores',
    ]);
    expect(writable.queues.every((queue: { readOnlyMode: boolean }) => queue.readOnlyMode === false)).toBe(
      true,
    );
    const readOnly = await createApiFixture({ name: 'readonly', env: { BULL_BOARD_READ_ONLY: 'true' } });
    try {
      const body = (await readOnly.app.inject({ url: '/admin/queues/api/queues', headers: bearer() })).json();
      expect(body.queues).toHaveLength(3);
      expect(body.queues.every((queue: { readOnlyMode: boolean }) => queue.readOnlyMode === true)).toBe(true);
      const clean = await readOnly.app.inject({
        method: 'PUT',
        url: '/admin/queues/api/queues/backups/clean/completed',
        headers: bearer(),
      });
      expect(clean.statusCode).toBe(405);
      expect(clean.json().error.key).toBe('ERRORS.QUEUE_READ_ONLY');
    } finally {
      await readOnly.close();
    }
  });

  it('describes the admin API in OpenAPI at /docs/json', async () => {
    const response = await fixture.app.inject({ url: '/docs/json', headers: bearer() });
    expect(response.statusCode).toBe(200);
    const spec = response.json();
    expect(spec.openapi).toBe('3.1.0');
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining([
        '/api/admin/backup',
        '/api/admin/backups',
        '/api/admin/jobs/{id}',
        '/api/admin/backup/restore',
        '/api/admin/schedules',
        '/api/admin/targets',
        '/health',
        '/health/detailed',
      ]),
    );
    expect(Object.keys(spec.paths).some((path) => path.startsWith('/admin/queues'))).toBe(false);
    expect(spec.components.securitySchemes.bearerAuth).toEqual(
      expect.objectContaining({ type: 'http', scheme: 'bearer' }),
    );
    const restore = spec.paths['/api/admin/backup/restore'].post;
    expect(restore.requestBody.content['application/json'].schema.additionalProperties).toBe(false);
    expect(restore.security).toEqual([{ bearerAuth: [] }]);
    const ui = await fixture.app.inject({ url: '/docs/', headers: bearer() });
    expect(ui.statusCode).toBe(200);
    expect(ui.body).toContain('swagger');
  });
});
