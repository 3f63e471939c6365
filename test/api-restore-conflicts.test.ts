/**
 * A second restore of a target into the same database while one waits or runs answers 409: two
 * restores racing for one database would leave it half one and half the other. Real Redis queues.
 */
import { JOB_NAMES } from '@warden/queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ApiFixture,
  bearer,
  createApiFixture,
  makeManifest,
  makeTarget,
  storeBackup,
} from './helpers/api-fixtures.js';

const app = makeTarget('app');
const file = 'app_test_20250103_030000.sql.gz';
let fixture: ApiFixture;

beforeAll(async () => {
  fixture = await createApiFixture({ name: 'restore-409', targets: [app] });
  await storeBackup(fixture.storage, makeManifest(app, new Date(Date.UTC(2025, 0, 3, 3)), fixture.storage));
});

afterAll(async () => {
  await fixture?.close();
});

const restore = (payload: Record<string, unknown>) =>
  fixture.app.inject({ method: 'POST', url: '/api/admin/backup/restore', headers: bearer(), payload });

describe('POST /api/admin/backup/restore while a restore into the database is queued', () => {
  it('answers 409 RESTORE_ALREADY_QUEUED naming the queued job, and queues nothing', async () => {
    const first = await restore({ target: 'app', file, database: 'app_copy' });
    expect(first.statusCode).toBe(202);
    const { jobId } = first.json() as { jobId: string };

    const second = await restore({ target: 'app', file: 'latest', database: 'app_copy' });
    expect(second.statusCode).toBe(409);
    expect(second.json().error).toMatchObject({
      code: 'RESTORE_ALREADY_QUEUED',
      jobId,
      statusUrl: `/api/admin/jobs/${jobId}`,
    });
    expect(second.json().error.message).toContain('into database "app_copy" is already queued');
    expect(await fixture.queues.restores.getJobCounts('waiting')).toEqual({ waiting: 1 });

    // Another database, a dry run (writes nothing) and a new database are not in the way.
    expect((await restore({ target: 'app', file, database: 'app_other' })).statusCode).toBe(202);
    expect((await restore({ target: 'app', file, database: 'app_copy', dryRun: true })).statusCode).toBe(202);
    expect((await restore({ target: 'app', file })).statusCode).toBe(202);

    // Once the first one is gone, the database can be restored into again.
    await (await fixture.queues.restores.getJob(jobId))?.remove();
    await fixture.connection.del(`${fixture.prefix}:restores:de:restore:app:app_copy`);
    expect((await restore({ target: 'app', file, database: 'app_copy' })).statusCode).toBe(202);
    await fixture.queues.restores.obliterate({ force: true });
  });

  it('also sees a restore added in Bull Board, and two racing requests get one job', async () => {
    const planted = await fixture.queues.restores.add(JOB_NAMES.restoreRun, {
      target: 'app',
      file,
      database: 'app_planted',
    });
    const refused = await restore({ target: 'app', file, database: 'app_planted' });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error.jobId).toBe(planted.id);

    const answers = await Promise.all(
      Array.from({ length: 5 }, () => restore({ target: 'app', file, database: 'app_raced' })),
    );
    expect(answers.map((answer) => answer.statusCode).sort()).toEqual([202, 409, 409, 409, 409]);
    await fixture.queues.restores.obliterate({ force: true });
  });
});
