/** Bulk `POST /api/admin/backup`: `{"targets":[...]}` or `{"all":true}`, one deduplicated job per target. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiFixture, bearer, createApiFixture, makeTarget } from './helpers/api-fixtures.js';

const TARGETS = Array.from({ length: 60 }, (_, index) => makeTarget(`db${index}`));
let fixture: ApiFixture;

beforeAll(async () => {
  fixture = await createApiFixture({
    name: 'bulk-backup',
    targets: [...TARGETS, makeTarget('paused', { enabled: false })],
  });
});
afterAll(async () => {
  await fixture.close();
});

const post = (payload: unknown) =>
  fixture.app.inject({
    method: 'POST',
    url: '/api/admin/backup',
    headers: bearer(),
    payload: payload as object,
  });

interface Accepted {
  jobId: string;
  target: string;
  statusUrl: string;
  deduplicated: boolean;
}

describe('bulk backups', () => {
  it('queues one job per listed target, deduplicating repeats and unfinished backups', async () => {
    const first = await post({ targets: ['db1', 'db2', 'db2'], reason: 'before migration' });
    expect(first.statusCode).toBe(202);
    const { jobs } = first.json() as { jobs: Accepted[] };
    expect(jobs.map((job) => [job.target, job.deduplicated])).toEqual([
      ['db1', false],
      ['db2', false],
    ]);
    const stored = await fixture.queues.backups.getJob(jobs[0]?.jobId as string);
    expect(stored?.data).toMatchObject({ target: 'db1', trigger: 'api', reason: 'before migration' });

    const again = (await post({ targets: ['db2', 'db3'] })).json() as { jobs: Accepted[] };
    expect(again.jobs[0]).toMatchObject({ target: 'db2', jobId: jobs[1]?.jobId, deduplicated: true });
    expect(again.jobs[1]).toMatchObject({ target: 'db3', deduplicated: false });
  });

  it('queues every enabled target with all, answering those already queued with their job', async () => {
    const response = await post({ all: true });
    expect(response.statusCode).toBe(202);
    const { jobs } = response.json() as { jobs: Accepted[] };
    expect(jobs).toHaveLength(TARGETS.length);
    expect(jobs.some((job) => job.target === 'paused')).toBe(false);
    expect(jobs.filter((job) => job.deduplicated).map((job) => job.target)).toEqual(['db1', 'db2', 'db3']);
    expect(await fixture.queues.backups.getWaitingCount()).toBe(TARGETS.length);
    // Single form still answers its own shape, deduplicated against the bulk ones.
    const single = (await post({ target: 'db40' })).json() as Accepted;
    expect(single).toMatchObject({ target: 'db40', deduplicated: true });
  });

  it('refuses unknown targets without queueing anything, and mixed forms', async () => {
    const before = await fixture.queues.backups.count();
    const unknown = await post({ targets: ['db5', 'nope', 'gone'] });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error).toMatchObject({ code: 'TARGET_NOT_FOUND' });
    expect(unknown.json().error.message).toContain('"nope", "gone"');
    expect(await fixture.queues.backups.count()).toBe(before);

    for (const payload of [
      { target: 'db1', targets: ['db2'] },
      { targets: ['db1'], all: true },
      { all: false },
      { targets: [] },
      { targets: ['../etc'] },
    ]) {
      const response = await post(payload);
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(response.json().error.code).toBe('VALIDATION_FAILED');
    }
  });
});
