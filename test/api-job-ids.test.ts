/**
 * Job ids across queues, on the real Redis: jobs added without an id (Bull Board's "add job") are
 * numbered per queue, so the same id lives in several queues. The job routes must never answer one
 * queue's job for another's.
 */
import { JOB_NAMES, QUEUE_NAMES } from '@warden/queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiFixture, bearer, createApiFixture } from './helpers/api-fixtures.js';

let fixture: ApiFixture;

beforeAll(async () => {
  fixture = await createApiFixture({ name: 'job-ids' });
});

afterAll(async () => {
  await fixture?.close();
});

const get = (url: string) => fixture.app.inject({ url, headers: bearer() });

describe('job ids across queues', () => {
  it('answers 409 for an id two queues hold, and each job when ?queue= names its queue', async () => {
    // Added as Bull Board adds them: no id, so each queue counts from 1.
    const backup = await fixture.queues.backups.add(JOB_NAMES.backupCreate, { target: 'app' });
    const restore = await fixture.queues.restores.add(JOB_NAMES.restoreRun, {
      target: 'app',
      file: 'latest',
    });
    expect(backup.id).toBe(restore.id);
    const id = backup.id ?? '';

    const ambiguous = await get(`/api/admin/jobs/${id}`);
    expect(ambiguous.statusCode).toBe(409);
    expect(ambiguous.json().error).toMatchObject({
      code: 'JOB_ID_AMBIGUOUS',
      urls: [`/api/admin/jobs/${id}?queue=backups`, `/api/admin/jobs/${id}?queue=restores`],
    });

    const fromBackups = await get(`/api/admin/jobs/${id}?queue=backups`);
    expect(fromBackups.statusCode).toBe(200);
    expect(fromBackups.json()).toMatchObject({ id, queue: 'backups', name: JOB_NAMES.backupCreate });
    const fromRestores = await get(`/api/admin/jobs/${id}?queue=restores`);
    expect(fromRestores.statusCode).toBe(200);
    expect(fromRestores.json()).toMatchObject({ id, queue: 'restores', name: JOB_NAMES.restoreRun });

    const absent = await get(`/api/admin/jobs/${id}?queue=probes`);
    expect(absent.statusCode).toBe(404);
    expect(absent.json().error.code).toBe('JOB_NOT_FOUND');
    const badQueue = await get(`/api/admin/jobs/${id}?queue=nope`);
    expect(badQueue.statusCode).toBe(400);
    expect(badQueue.json().error.message).toContain(
      'querystring.queue must be one of: backups, restores, probes',
    );

    // Held by one queue only, a plain id still answers.
    const second = await fixture.queues.backups.add(JOB_NAMES.backupCreate, { target: 'app' });
    const only = await get(`/api/admin/jobs/${second.id}`);
    expect(only.statusCode).toBe(200);
    expect(only.json()).toMatchObject({ id: second.id, queue: 'backups' });
    await fixture.queues.backups.obliterate({ force: true });
    await fixture.queues.restores.obliterate({ force: true });
  });

  it('keeps /jobs/:id working for every id the API returns, whatever other queues hold', async () => {
    const backup = await fixture.app.inject({
      method: 'POST',
      url: '/api/admin/backup',
      headers: { ...bearer(), 'content-type': 'application/json' },
      payload: { target: 'app' },
    });
    expect(backup.statusCode).toBe(202);
    const { jobId, statusUrl } = backup.json() as { jobId: string; statusUrl: string };
    expect(statusUrl).toBe(`/api/admin/jobs/${jobId}`);
    // Another queue holding a job under the same id does not shadow it.
    await fixture.queues.restores.add(JOB_NAMES.restoreRun, { target: 'app', file: 'latest' }, { jobId });
    const status = await get(statusUrl);
    expect(status.statusCode).toBe(200);
    expect(status.json()).toMatchObject({ id: jobId, queue: 'backups', name: JOB_NAMES.backupCreate });
    await fixture.queues.backups.obliterate({ force: true });
    await fixture.queues.restores.obliterate({ force: true });
  });

  it('points a deduplicated backup that Bull Board added at /jobs/:id?queue=backups', async () => {
    // A waiting backup added without an id; the API answers it instead of queueing another.
    const added = await fixture.queues.backups.add(
      JOB_NAMES.backupCreate,
      { target: 'app' },
      { deduplication: { id: 'backup:app' } },
    );
    await fixture.queues.restores.add(JOB_NAMES.restoreRun, { target: 'app', file: 'latest' });
    const answer = await fixture.app.inject({
      method: 'POST',
      url: '/api/admin/backup',
      headers: { ...bearer(), 'content-type': 'application/json' },
      payload: { target: 'app' },
    });
    const body = answer.json() as { jobId: string; statusUrl: string; deduplicated: boolean };
    expect(body).toMatchObject({ jobId: added.id, deduplicated: true });
    expect(body.statusUrl).toBe(`/api/admin/jobs/${added.id}?queue=${QUEUE_NAMES.backups}`);
    const status = await get(body.statusUrl);
    expect(status.json()).toMatchObject({ id: added.id, queue: 'backups' });
  });
});
