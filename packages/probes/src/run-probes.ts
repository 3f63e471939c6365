import { healthAlerts } from './health-alerts.js';
import type { HealthChecker, HealthThresholds } from './health-checker.js';
import type { ConditionReporter, ProbeCondition, ProbeLogger, ProbeMetrics } from './reporting-types.js';
import type { HealthReport, HealthStatus, ProbeResult } from './types.js';

/** Options of {@link runProbeCycle}. */
export interface ProbeCycleOptions {
  checker: Pick<HealthChecker, 'detailed'>;
  /** Structurally the `ConditionTracker` of `@warden/notify`. */
  tracker: ConditionReporter;
  /** Structurally a subset of `WardenMetrics`. */
  metrics?: ProbeMetrics | undefined;
  thresholds: HealthThresholds;
  logger?: ProbeLogger | undefined;
}

const STATUS_VALUE: Record<HealthStatus, number> = { healthy: 0, degraded: 1, unhealthy: 2 };
const QUEUE_STATES = ['waiting', 'delayed', 'backlog', 'active', 'failed', 'completed'] as const;

/** Per-target conditions whose messages are combined across targets. */
const GROUPS = {
  database: { key: 'health:database', titlePrefix: 'Database connection failed: ' },
  backup: { key: 'health:backup', titlePrefix: 'No recent good backup of ' },
} as const;

const asRecord = (value: unknown): Record<string, unknown> =>
  value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
const asNumber = (value: unknown): number | undefined => (typeof value === 'number' ? value : undefined);
const asString = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** The alert conditions derived from one report. */
export function conditionsOf(report: HealthReport, thresholds: HealthThresholds): ProbeCondition[] {
  const conditions: ProbeCondition[] = [];
  const { database, redis, disk, workers, queues, backups } = report.services;

  if (database) {
    for (const [target, value] of Object.entries(asRecord(database.targets))) {
      const result = asRecord(value) as Partial<ProbeResult>;
      conditions.push({
        key: `health:database:${target}`,
        active: result.status !== 'healthy',
        alert: healthAlerts.databaseDown(target, asString(result.error)),
        group: GROUPS.database,
        subject: target,
      });
    }
  }
  if (redis) {
    conditions.push({
      key: 'health:redis',
      active: redis.status !== 'healthy',
      alert: healthAlerts.redisDown(redis.error),
    });
  }
  if (disk) {
    const critical = disk.status === 'unhealthy';
    conditions.push({
      key: 'health:disk',
      active: disk.status !== 'healthy',
      alert: healthAlerts.diskUsage({
        critical,
        usagePercent: asNumber(disk.usage_percent),
        freeGb: asNumber(disk.free_gb),
        path: asString(disk.path),
        thresholdPercent: critical ? thresholds.diskCriticalPercent : thresholds.diskWarningPercent,
        error: disk.error,
      }),
    });
  }
  // Workers that may still be starting (no heartbeat yet, just after the API started) say nothing
  // either way: neither an alert nor the "resolved" of one an earlier API process raised.
  if (workers && workers.starting !== true) {
    const perQueue = asRecord(workers.queues);
    conditions.push({
      key: 'health:workers',
      active: workers.status !== 'healthy',
      alert: healthAlerts.noWorkers({
        activeWorkers: asNumber(workers.active_workers) ?? 0,
        idleQueues: Object.keys(perQueue).filter((queue) => perQueue[queue] === 0),
      }),
    });
  }
  if (queues) {
    for (const [queue, value] of Object.entries(queues)) {
      const stats = asRecord(value);
      if (typeof stats.status !== 'string') continue;
      const waiting = asNumber(stats.waiting) ?? 0;
      const overdue = asNumber(stats.overdue) ?? 0;
      conditions.push({
        key: `health:queue:${queue}`,
        active: waiting + overdue > thresholds.queueLengthThreshold,
        alert: healthAlerts.queueBacklog({
          queue,
          waiting,
          overdue,
          threshold: thresholds.queueLengthThreshold,
          ...(asNumber(stats.oldest_waiting_age_s) === undefined
            ? {}
            : { oldestAgeS: asNumber(stats.oldest_waiting_age_s) }),
        }),
      });
    }
  }
  if (backups) {
    for (const [target, value] of Object.entries(asRecord(backups.targets))) {
      const freshness = asRecord(value);
      // Unknown (the catalog did not answer) is neither a missed backup nor a recovery.
      if (freshness.unknown === true) continue;
      conditions.push({
        key: `health:backup:${target}`,
        active: freshness.status !== 'healthy',
        alert: healthAlerts.backupOverdue({
          target,
          lastSuccessAt: asString(freshness.last_success_at),
          ageS: asNumber(freshness.age_s),
          error: asString(freshness.error),
        }),
        group: GROUPS.backup,
        subject: target,
      });
    }
  }
  return conditions;
}

function updateMetrics(report: HealthReport, metrics: ProbeMetrics): void {
  for (const [probe, result] of Object.entries(report.services)) {
    metrics.probeStatus.set({ probe }, STATUS_VALUE[result.status]);
  }
  const { queues, workers, disk, backups } = report.services;
  if (queues) {
    for (const [queue, value] of Object.entries(queues)) {
      const stats = asRecord(value);
      if (typeof stats.status !== 'string') continue;
      for (const state of QUEUE_STATES) {
        const count = asNumber(stats[state]);
        if (count !== undefined) metrics.queueJobs.set({ queue, state }, count);
      }
      const oldest = asNumber(stats.oldest_waiting_age_s);
      if (oldest !== undefined) metrics.queueOldestWaitingSeconds?.set({ queue }, oldest);
    }
  }
  if (workers && metrics.workersActive) {
    for (const [queue, count] of Object.entries(asRecord(workers.queues))) {
      if (typeof count === 'number') metrics.workersActive.set({ queue }, count);
    }
  }
  if (disk && metrics.diskUsageRatio) {
    for (const [path, value] of Object.entries(asRecord(disk.paths))) {
      const usage = asNumber(asRecord(value).usage_percent);
      if (usage !== undefined) metrics.diskUsageRatio.set({ path }, usage / 100);
    }
  }
  if (backups && metrics.backupLastSuccessTimestamp) {
    // Storage is the durable record: after a restart this restores the gauge the age alert needs.
    for (const [target, value] of Object.entries(asRecord(backups.targets))) {
      const last = asString(asRecord(value).last_success_at);
      if (last) metrics.backupLastSuccessTimestamp.set({ target }, Date.parse(last) / 1000);
      const deadline = asString(asRecord(value).deadline_at);
      if (deadline) metrics.backupDeadlineTimestamp?.set({ target }, Date.parse(deadline) / 1000);
    }
  }
}

/**
 * One background probe run: builds the report, updates metrics and reports every condition of the
 * cycle to the tracker at once, which damps, combines per-target conditions into one message per
 * kind, alerts (throttled) and resolves. Never throws because of alerting or metrics: those
 * failures are logged.
 */
export async function runProbeCycle(options: ProbeCycleOptions): Promise<HealthReport> {
  const report = await options.checker.detailed();
  if (options.metrics) {
    try {
      updateMetrics(report, options.metrics);
    } catch (err) {
      options.logger?.error({ err }, 'updating probe metrics failed');
    }
  }
  try {
    await options.tracker.reportCycle(conditionsOf(report, options.thresholds));
  } catch (err) {
    options.logger?.error({ err }, 'reporting the health conditions failed');
  }
  return report;
}
