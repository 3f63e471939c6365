import { CronExpressionParser } from 'cron-parser';
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
}

export interface BackupFreshness {
  status: HealthStatus;
  last_success_at?: string;
  age_s?: number;
  /** The scheduled run the last good backup should be at least as new as. */
  expected_since?: string;
  error?: string;
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
): BackupFreshness {
  let expectedSince: Date;
  try {
    const expression = CronExpressionParser.parse(target.schedule, { currentDate: now, tz: target.timezone });
    const p1 = expression.prev().toDate();
    const p2 = expression.prev().toDate();
    expectedSince = now.getTime() - p1.getTime() > graceMs ? p1 : p2;
  } catch {
    expectedSince = new Date(now.getTime() - FALLBACK_MAX_AGE_MS);
  }
  if (!finishedAt) {
    return {
      status: 'degraded',
      expected_since: expectedSince.toISOString(),
      error: 'no good backup recorded yet',
    };
  }
  const ageS = Math.max(0, Math.round((now.getTime() - finishedAt.getTime()) / 1000));
  const overdue = finishedAt.getTime() < expectedSince.getTime();
  return {
    status: overdue ? 'degraded' : 'healthy',
    last_success_at: finishedAt.toISOString(),
    age_s: ageS,
    expected_since: expectedSince.toISOString(),
    ...(overdue
      ? { error: `last good backup is older than the run scheduled at ${expectedSince.toISOString()}` }
      : {}),
  };
}

export async function probeBackups(
  source: LatestBackupSource,
  options: { timeoutMs: number; graceMs: number; now?: Date },
): Promise<ProbeResult> {
  const now = options.now ?? new Date();
  const targets: Record<string, BackupFreshness> = {};
  for (const target of source.targets) {
    try {
      const latest = await withTimeout(
        source.listLatest(target.name),
        options.timeoutMs,
        `backup list of ${target.name}`,
      );
      const finished = latest ? new Date(latest.finished_at) : undefined;
      targets[target.name] = evaluateBackupFreshness(
        target,
        finished && !Number.isNaN(finished.getTime()) ? finished : undefined,
        now,
        options.graceMs,
      );
    } catch (error) {
      targets[target.name] = {
        status: 'degraded',
        error: `cannot list backups: ${probeErrorMessage(error)}`,
      };
    }
  }
  const overdue = Object.entries(targets).filter(([, freshness]) => freshness.status !== 'healthy');
  return {
    status: overdue.length > 0 ? 'degraded' : 'healthy',
    targets,
    ...(overdue.length > 0 ? { error: `backup overdue: ${overdue.map(([name]) => name).join(', ')}` } : {}),
  };
}
