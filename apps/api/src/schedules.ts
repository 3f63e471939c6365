import type { WardenConfig } from '@warden/config';
import type { Logger } from '@warden/logging';
import { JOB_NAMES, QUEUE_NAMES, schedulerIds } from '@warden/queue';
import type { Queue } from 'bullmq';
import type { WardenQueues } from './deps.js';
import { BACKUP_JOB_OPTIONS, PROBES_JOB_OPTIONS, RESTORE_VERIFY_JOB_OPTIONS } from './job-options.js';

/** Options of {@link syncSchedulers}. */
export interface SyncSchedulersOptions {
  queues: WardenQueues;
  config: Pick<WardenConfig, 'targets' | 'backup' | 'restoreVerify' | 'alerts'>;
  logger: Logger;
}

export interface SyncSchedulersResult {
  /** Scheduler ids created or updated, as `<queue>/<id>`. */
  upserted: string[];
  /** Scheduler ids removed because their target is gone or scheduling is off. */
  removed: string[];
}

/** Everything a scheduler listing shows (`GET /api/admin/schedules`). */
export interface ScheduleInfo {
  id: string;
  queue: string;
  jobName: string;
  pattern: string | null;
  every: number | null;
  timezone: string | null;
  /** ISO time of the next run. */
  next: string | null;
  target: string | null;
}

/** Only schedulers with these id prefixes are Warden's to remove; anything else is left alone. */
const BACKUP_PREFIX = schedulerIds.backup('');
const RESTORE_VERIFY_PREFIX = schedulerIds.restoreVerify('');

/** Every scheduler of a queue; BullMQ pages them, so read until a short page. */
async function allSchedulers(queue: Queue) {
  const pageSize = 500;
  const schedulers = [];
  for (let start = 0; ; start += pageSize) {
    const page = await queue.getJobSchedulers(start, start + pageSize - 1, true);
    schedulers.push(...page);
    if (page.length < pageSize) return schedulers;
  }
}

async function reconcile(
  queue: Queue,
  prefix: string,
  desired: ReadonlySet<string>,
  removed: string[],
  logger: Logger,
): Promise<void> {
  for (const scheduler of await allSchedulers(queue)) {
    const id = scheduler.key;
    if (id.startsWith(prefix) && !desired.has(id)) {
      await queue.removeJobScheduler(id);
      removed.push(`${queue.name}/${id}`);
      logger.info({ queue: queue.name, schedulerId: id }, 'job scheduler removed');
    }
  }
}

/**
 * Makes the job schedulers in Redis match the configuration: one backup scheduler per enabled
 * target (none when `BACKUP_ENABLED=false`), one restore-test scheduler per enabled target
 * when restore tests are on, and one probes scheduler. Scheduler ids derive from the target
 * name, so running this any number of times leaves exactly one per target (BullMQ 6 job schedulers;
 * legacy repeatable jobs no longer exist, docs/architecture.md#library-traps).
 */
export async function syncSchedulers(options: SyncSchedulersOptions): Promise<SyncSchedulersResult> {
  const { queues, config, logger } = options;
  const upserted: string[] = [];
  const removed: string[] = [];
  const enabledTargets = config.targets.filter((target) => target.enabled);

  const backupIds = new Set<string>();
  if (config.backup.enabled) {
    for (const target of enabledTargets) {
      const id = schedulerIds.backup(target.name);
      backupIds.add(id);
      await queues.backups.upsertJobScheduler(
        id,
        { pattern: target.schedule, tz: target.timezone },
        {
          name: JOB_NAMES.backupCreate,
          data: { target: target.name, trigger: 'schedule' },
          opts: BACKUP_JOB_OPTIONS,
        },
      );
      upserted.push(`${QUEUE_NAMES.backups}/${id}`);
    }
  }
  await reconcile(queues.backups, BACKUP_PREFIX, backupIds, removed, logger);

  const restoreTestIds = new Set<string>();
  if (config.restoreVerify.enabled) {
    for (const target of enabledTargets) {
      const id = schedulerIds.restoreVerify(target.name);
      restoreTestIds.add(id);
      await queues.restores.upsertJobScheduler(
        id,
        { pattern: config.restoreVerify.schedule, tz: target.timezone },
        {
          name: JOB_NAMES.restoreVerify,
          data: { target: target.name, trigger: 'schedule' },
          opts: RESTORE_VERIFY_JOB_OPTIONS,
        },
      );
      upserted.push(`${QUEUE_NAMES.restores}/${id}`);
    }
  }
  await reconcile(queues.restores, RESTORE_VERIFY_PREFIX, restoreTestIds, removed, logger);

  await queues.probes.upsertJobScheduler(
    schedulerIds.probes,
    { every: config.alerts.probeIntervalSeconds * 1000 },
    { name: JOB_NAMES.probesRun, data: {}, opts: PROBES_JOB_OPTIONS },
  );
  upserted.push(`${QUEUE_NAMES.probes}/${schedulerIds.probes}`);

  logger.info({ upserted, removed, backupsEnabled: config.backup.enabled }, 'job schedulers synchronised');
  return { upserted, removed };
}

/** Every job scheduler of Warden's queues with its cron, timezone and next run. */
export async function listSchedules(queues: WardenQueues): Promise<ScheduleInfo[]> {
  const result: ScheduleInfo[] = [];
  for (const queue of [queues.backups, queues.restores, queues.probes]) {
    for (const scheduler of await allSchedulers(queue)) {
      const target = (scheduler.template?.data as { target?: unknown } | undefined)?.target;
      result.push({
        id: scheduler.key,
        queue: queue.name,
        jobName: scheduler.name,
        pattern: scheduler.pattern ?? null,
        every: scheduler.every === undefined ? null : Number(scheduler.every),
        timezone: scheduler.tz ?? null,
        next: scheduler.next === undefined ? null : new Date(scheduler.next).toISOString(),
        target: typeof target === 'string' ? target : null,
      });
    }
  }
  return result;
}
