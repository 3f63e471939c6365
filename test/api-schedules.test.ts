import type { BackupTarget } from '@warden/config';
import { JOB_NAMES } from '@warden/queue';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listSchedules, syncSchedulers } from '../apps/api/src/schedules.js';
import {
  createMemoryLogger,
  createTestQueues,
  makeConfig,
  makeTarget,
  type TestQueues,
  uniquePrefix,
} from './helpers/api-fixtures.js';

describe('syncSchedulers', () => {
  let prefix: string;
  let test: TestQueues;
  const { logger } = createMemoryLogger();

  beforeEach(() => {
    prefix = uniquePrefix('schedules');
    test = createTestQueues(prefix);
  });
  afterEach(async () => {
    await test.cleanup();
  });

  function sync(targets: BackupTarget[], env: Record<string, string> = {}) {
    const config = makeConfig({ queuePrefix: prefix, targets, env });
    return syncSchedulers({ queues: test.queues, config, logger });
  }

  async function ids() {
    return (await listSchedules(test.queues)).map((schedule) => `${schedule.queue}/${schedule.id}`).sort();
  }

  it('creates one backup and one restore-verify scheduler per target, and one probes scheduler', async () => {
    await sync([
      makeTarget('app'),
      makeTarget('billing', { schedule: '30 1 * * *', timezone: 'Europe/Berlin' }),
    ]);
    expect(await ids()).toEqual([
      'backups/backup:app',
      'backups/backup:billing',
      'probes/probes',
      'restores/restore-verify:app',
      'restores/restore-verify:billing',
    ]);
    const billing = await test.queues.backups.getJobScheduler('backup:billing');
    expect(billing).toMatchObject({
      name: JOB_NAMES.backupCreate,
      pattern: '30 1 * * *',
      tz: 'Europe/Berlin',
      template: { data: { target: 'billing', trigger: 'schedule' } },
    });
    const verify = await test.queues.restores.getJobScheduler('restore-verify:app');
    expect(verify).toMatchObject({ name: JOB_NAMES.restoreVerify, pattern: '0 5 * * 0' });
    const probes = await test.queues.probes.getJobScheduler('probes');
    expect(probes).toMatchObject({ name: JOB_NAMES.probesRun, every: 60_000 });
    // Each scheduler keeps exactly one upcoming (delayed) job.
    expect(await test.queues.backups.getDelayedCount()).toBe(2);
  });

  it('leaves exactly one scheduler and one upcoming job per target after restarting twice', async () => {
    const targets = [makeTarget('app'), makeTarget('billing')];
    await sync(targets);
    const before = await ids();
    await sync(targets);
    await sync(targets);
    expect(await ids()).toEqual(before);
    expect(await test.queues.backups.getJobSchedulersCount()).toBe(2);
    expect(await test.queues.restores.getJobSchedulersCount()).toBe(2);
    expect(await test.queues.probes.getJobSchedulersCount()).toBe(1);
    expect(await test.queues.backups.getDelayedCount()).toBe(2);
    expect(await test.queues.restores.getDelayedCount()).toBe(2);
  });

  it("updates a target's scheduler when its cron changes", async () => {
    await sync([makeTarget('app')]);
    const first = await test.queues.backups.getJobScheduler('backup:app');
    expect(new Date(Number(first?.next)).getUTCHours()).toBe(3);
    await sync([makeTarget('app', { schedule: '15 22 * * *' })]);
    const updated = await test.queues.backups.getJobScheduler('backup:app');
    expect(updated?.pattern).toBe('15 22 * * *');
    const next = new Date(Number(updated?.next));
    expect([next.getUTCHours(), next.getUTCMinutes()]).toEqual([22, 15]);
    expect(await test.queues.backups.getJobSchedulersCount()).toBe(1);
    // The upcoming job moved with the schedule; the old 03:00 one is gone.
    const delayed = await test.queues.backups.getDelayed();
    expect(delayed).toHaveLength(1);
    expect(new Date(delayed[0]!.timestamp + delayed[0]!.delay).getUTCHours()).toBe(22);
  });

  it("removes the schedulers of a target that is no longer configured, and nobody else's", async () => {
    await sync([makeTarget('app'), makeTarget('billing')]);
    // A scheduler someone else created on the same queue is not Warden's to remove.
    await test.queues.backups.upsertJobScheduler('custom-report', { every: 3_600_000 }, { name: 'report' });
    const result = await sync([makeTarget('app')]);
    expect(result.removed.sort()).toEqual(['backups/backup:billing', 'restores/restore-verify:billing']);
    expect(await ids()).toEqual([
      'backups/backup:app',
      'backups/custom-report',
      'probes/probes',
      'restores/restore-verify:app',
    ]);
    // Its upcoming job went with it.
    const delayed = await test.queues.backups.getDelayed();
    expect(delayed.map((job) => job.data.target).filter(Boolean)).toEqual(['app']);
  });

  it('skips disabled targets', async () => {
    await sync([makeTarget('app'), makeTarget('billing', { enabled: false })]);
    expect(await ids()).toEqual(['backups/backup:app', 'probes/probes', 'restores/restore-verify:app']);
  });

  it('removes every backup scheduler when BACKUP_ENABLED=false', async () => {
    const targets = [makeTarget('app'), makeTarget('billing')];
    await sync(targets);
    await sync(targets, { BACKUP_ENABLED: 'false' });
    expect(await test.queues.backups.getJobSchedulersCount()).toBe(0);
    expect(await test.queues.backups.getDelayedCount()).toBe(0);
    expect(await ids()).toEqual([
      'probes/probes',
      'restores/restore-verify:app',
      'restores/restore-verify:billing',
    ]);
  });

  it('removes restore-verify schedulers when restore tests are off, and follows the probe interval', async () => {
    await sync([makeTarget('app')]);
    await sync([makeTarget('app')], { RESTORE_VERIFY_ENABLED: 'false', PROBE_INTERVAL_SECONDS: '30' });
    expect(await ids()).toEqual(['backups/backup:app', 'probes/probes']);
    expect((await test.queues.probes.getJobScheduler('probes'))?.every).toBe(30_000);
  });
});
