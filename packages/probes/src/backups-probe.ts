import { CronExpressionParser } from 'cron-parser';
import { mapBounded } from './map-bounded.js';
import type { HealthStatus, ProbeResult } from './types.js';
import { probeErrorMessage, withTimeout } from './with-timeout.js';

export interface BackupScheduleTarget {
  name: string;
  /** Five-field cron, as configured (`BACKUP_SCHEDULE` or per target). */
  schedule: string;
  timezone: string;
}

/** What the probe needs from the backup catalogue (structurally the backup package's listing). */
export interface LatestBackupSource {
  /** The newest good backup of a target; `finished_at` is an ISO date. */
  listLatest(target: string): Promise<{ finished_at: string } | undefined>;
  targets: readonly BackupScheduleTarget[];
  /**
   * When Warden started watching each target. A target is not overdue for a run scheduled before
   * that: a new target's first deadline is its first scheduled run plus grace.
   */
  watchedSince?: ((targets: readonly string[]) => Promise<Map<string, Date>>) | undefined;
}

export interface BackupFreshness {
  status: HealthStatus;
  last_success_at?: string;
  age_s?: number;
  /** The scheduled run the last good backup should be at least as new as. */
  expected_since?: string;
  /** When the next good backup is due: the first scheduled run after the last one (or after watching began), plus grace. */
  deadline_at?: string;
  /** Set while a newly watched target waits for its first scheduled run. */
  awaiting_first_run?: true;
  /** Set when the catalog could not be read: freshness unknown, no alert either way. */
  unknown?: true;
  error?: string;
}

/** The first scheduled run after `after`, or undefined when the schedule cannot be parsed. */
function nextRunAfter(target: BackupScheduleTarget, after: Date): Date | undefined {
  try {
    return CronExpressionParser.parse(target.schedule, { currentDate: after, tz: target.timezone })
      .next()
      .toDate();
  } catch {
    return undefined;
  }
}

/**
 * The moment a target becomes overdue: the first scheduled run after both its last good backup and
 * the moment Warden began watching it, plus grace (a run exactly at the start of watching counts).
 */
export function backupDeadline(
  target: BackupScheduleTarget,
  finishedAt: Date | undefined,
  watchedSince: Date | undefined,
  graceMs: number,
): Date | undefined {
  const watchStart = watchedSince ? new Date(watchedSince.getTime() - 1) : undefined;
  const reference =
    finishedAt && watchStart
      ? finishedAt > watchStart
        ? finishedAt
        : watchStart
      : (finishedAt ?? watchStart);
  if (!reference) return undefined;
  const next = nextRunAfter(target, reference);
  const dueAt = next ? next.getTime() + graceMs : reference.getTime() + FALLBACK_MAX_AGE_MS;
  return new Date(dueAt);
}

/** Used when the schedule cannot be parsed: a nightly job plus slack. */
const FALLBACK_MAX_AGE_MS = 26 * 3600 * 1000;

/**
 * Is the last good backup recent enough for its schedule? With the two most recent scheduled times
 * p1 > p2 before `now` (computed with cron-parser, BullMQ's own dependency, in the target's time zone):
 * - a backup finished after p2 is fresh while the run due at p1 may still be going (within `graceMs`);
 * - after p1 + grace, the backup must be newer than p1;
 * so exactly one missed run makes the target overdue. Overdue is `degraded`, not `unhealthy`: the
 * service still works, and the HTTP 503 of an unhealthy report would wrongly look like an outage.
 */
export function evaluateBackupFreshness(
  target: BackupScheduleTarget,
  finishedAt: Date | undefined,
  now: Date,
  graceMs: number,
  watchedSince?: Date,
): BackupFreshness {
  const deadline = backupDeadline(target, finishedAt, watchedSince, graceMs);
  const deadlineField = deadline ? { deadline_at: deadline.toISOString() } : {};
  let expectedSince: Date;
  try {
    const expression = CronExpressionParser.parse(target.schedule, { currentDate: now, tz: target.timezone });
    const p1 = expression.prev().toDate();
    const p2 = expression.prev().toDate();
    expectedSince = now.getTime() - p1.getTime() > graceMs ? p1 : p2;
  } catch {
    expectedSince = new Date(now.getTime() - FALLBACK_MAX_AGE_MS);
  }
  // The run the backup is judged by was scheduled before Warden watched the target: not missed.
  const beforeWatching = watchedSince !== undefined && expectedSince.getTime() < watchedSince.getTime();
  if (!finishedAt) {
    if (beforeWatching) {
      return {
        status: 'healthy',
        expected_since: expectedSince.toISOString(),
        ...deadlineField,
        awaiting_first_run: true,
      };
    }
    return {
      status: 'degraded',
      expected_since: expectedSince.toISOString(),
      ...deadlineField,
      error: 'no good backup recorded yet',
    };
  }
  const ageS = Math.max(0, Math.round((now.getTime() - finishedAt.getTime()) / 1000));
  const overdue = finishedAt.getTime() < expectedSince.getTime() && !beforeWatching;
  return {
    status: overdue ? 'degraded' : 'healthy',
    last_success_at: finishedAt.toISOString(),
    age_s: ageS,
    expected_since: expectedSince.toISOString(),
    ...deadlineField,
    ...(overdue
      ? { error: `last good backup is older than the run scheduled at ${expectedSince.toISOString()}` }
      : {}),
  };
}

export async function probeBackups(
  source: LatestBackupSource,
  options: { timeoutMs: number; graceMs: number; now?: Date; concurrency?: number },
): Promise<ProbeResult> {
  const now = options.now ?? new Date();
  const targets: Record<string, BackupFreshness> = {};
  let watched = new Map<string, Date>();
  if (source.watchedSince) {
    try {
      watched = await withTimeout(
        source.watchedSince(source.targets.map((target) => target.name)),
        options.timeoutMs,
        'watched-since record',
      );
    } catch {
      // Without the record every target is judged by its schedule alone, as before it existed.
    }
  }
  await mapBounded(source.targets, options.concurrency ?? 10, async (target) => {
    try {
      const latest = await withTimeout(
        source.listLatest(target.name),
        // A store listing is slower than a database connect; the probe timeout alone is too short.
        Math.max(options.timeoutMs, 10_000),
        `backup list of ${target.name}`,
      );
      const finished = latest ? new Date(latest.finished_at) : undefined;
      targets[target.name] = evaluateBackupFreshness(
        target,
        finished && !Number.isNaN(finished.getTime()) ? finished : undefined,
        now,
        options.graceMs,
        watched.get(target.name),
      );
    } catch (error) {
      // Not known to be overdue: the catalog did not answer. Reported, but not alerted as a missed
      // backup (a slow store under load would otherwise page for every target it was slow for).
      targets[target.name] = {
        status: 'degraded',
        unknown: true,
        error: `cannot list backups: ${probeErrorMessage(error)}`,
      };
    }
  });
  const overdue = Object.entries(targets).filter(([, freshness]) => freshness.status !== 'healthy');
  return {
    status: overdue.length > 0 ? 'degraded' : 'healthy',
    targets,
    ...(overdue.length > 0 ? { error: `backup overdue: ${overdue.map(([name]) => name).join(', ')}` } : {}),
  };
}
