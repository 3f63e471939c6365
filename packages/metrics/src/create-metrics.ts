import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Options of {@link createMetrics}. */
export interface CreateMetricsOptions {
  /**
   * Prepended to every Warden metric name (`PROMETHEUS_PREFIX`). Node's default metrics keep their
   * standard unprefixed names so that stock Node.js dashboards work unchanged.
   * @defaultValue 'warden_' (as configured by the apps)
   */
  prefix: string;
  /**
   * Collect prom-client's Node.js and process metrics (docs/architecture.md#metrics) on this registry.
   * @defaultValue true
   */
  collectDefaultMetrics?: boolean;
  /** Labels added to every series of this registry, e.g. `{ service: 'api' }`. */
  defaultLabels?: Record<string, string>;
}

/** Every metric Warden exposes, all registered on one owned registry. */
export interface WardenMetrics {
  /** Owned by this instance, never prom-client's global registry (no "already registered" in tests). */
  registry: Registry;
  httpRequestsTotal: Counter<'method' | 'route' | 'status_code'>;
  httpRequestDurationSeconds: Histogram<'method' | 'route' | 'status_code'>;
  /** Unix time in seconds of the last good backup. */
  backupLastSuccessTimestamp: Gauge<'target'>;
  /** Duration of the last successful backup run. */
  backupDurationSeconds: Gauge<'target'>;
  backupSizeBytes: Gauge<'target'>;
  backupFailuresTotal: Counter<'target' | 'reason'>;
  backupUploadRetriesTotal: Counter<'target'>;
  /** Unix time in seconds of the last passed restore test. */
  lastVerifiedRestoreTimestamp: Gauge<'target'>;
  restoreVerificationsTotal: Counter<'target' | 'result'>;
  queueJobs: Gauge<'queue' | 'state'>;
  /** Seconds the longest-waiting ready (or overdue delayed) job of a queue has waited. */
  queueOldestWaitingSeconds: Gauge<'queue'>;
  /** Unix time in seconds by which the next good backup of a target is due (its schedule plus grace). */
  backupDeadlineTimestamp: Gauge<'target'>;
  /** 0 healthy, 1 degraded, 2 unhealthy. */
  probeStatus: Gauge<'probe'>;
  /** Live workers per queue, from the heartbeats workers keep in Redis. */
  workersActive: Gauge<'queue'>;
  /** Used fraction (0..1) of the filesystem holding a watched path. */
  diskUsageRatio: Gauge<'path'>;
  /** outcome: sent | failed | suppressed | logged. */
  notificationsTotal: Counter<'channel' | 'outcome'>;
}

/**
 * prom-client's default metrics include three gauges whose names end in `_total`
 * (`nodejs_active_handles_total`, `nodejs_active_requests_total`, `nodejs_active_resources_total`);
 * `promtool check metrics` rightly flags them because `_total` is reserved for counters (docs/architecture.md#library-traps).
 * We keep the default metrics (docs/architecture.md#metrics asks for them and stock dashboards use them) but drop these
 * three: each is only the sum over the `type` label of `nodejs_active_handles`, `nodejs_active_requests`
 * and `nodejs_active_resources`, which stay, so no information is lost and the whole `/metrics` output
 * passes `promtool check metrics` clean.
 */
export const DROPPED_DEFAULT_METRICS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
] as const;

/** HTTP latency buckets in seconds: an admin/health API answers in milliseconds, backups POSTs too. */
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createMetrics(options: CreateMetricsOptions): WardenMetrics {
  const prefix = options.prefix;
  if (!/^([a-zA-Z_][a-zA-Z0-9_]*)?$/.test(prefix)) {
    throw new TypeError('metrics prefix must be a valid Prometheus metric name prefix');
  }
  const registry = new Registry();
  if (options.defaultLabels) registry.setDefaultLabels(options.defaultLabels);
  if (options.collectDefaultMetrics ?? true) {
    collectDefaultMetrics({ register: registry });
    for (const name of DROPPED_DEFAULT_METRICS) registry.removeSingleMetric(name);
  }
  const registers = [registry];

  return {
    registry,
    httpRequestsTotal: new Counter({
      name: `${prefix}http_requests_total`,
      help: 'HTTP requests answered, by method, route template and status code.',
      labelNames: ['method', 'route', 'status_code'] as const,
      registers,
    }),
    httpRequestDurationSeconds: new Histogram({
      name: `${prefix}http_request_duration_seconds`,
      help: 'HTTP request duration in seconds, by method, route template and status code.',
      labelNames: ['method', 'route', 'status_code'] as const,
      buckets: HTTP_BUCKETS,
      registers,
    }),
    backupLastSuccessTimestamp: new Gauge({
      name: `${prefix}backup_last_success_timestamp_seconds`,
      help: 'Unix time in seconds when the last good (stored, integrity and stored-object checks passed) backup of a target finished.',
      labelNames: ['target'] as const,
      registers,
    }),
    backupDurationSeconds: new Gauge({
      name: `${prefix}backup_duration_seconds`,
      help: 'Duration in seconds of the last successful backup run of a target.',
      labelNames: ['target'] as const,
      registers,
    }),
    backupSizeBytes: new Gauge({
      name: `${prefix}backup_size_bytes`,
      help: 'Size in bytes of the last successful compressed backup of a target.',
      labelNames: ['target'] as const,
      registers,
    }),
    backupFailuresTotal: new Counter({
      name: `${prefix}backup_failures_total`,
      help: 'Backup runs that failed, by target and reason (dump, integrity, upload, ...).',
      labelNames: ['target', 'reason'] as const,
      registers,
    }),
    backupUploadRetriesTotal: new Counter({
      name: `${prefix}backup_upload_retries_total`,
      help: 'Upload attempts of an integrity-checked dump that failed and were scheduled for retry.',
      labelNames: ['target'] as const,
      registers,
    }),
    lastVerifiedRestoreTimestamp: new Gauge({
      name: `${prefix}last_verified_restore_timestamp_seconds`,
      help: 'Unix time in seconds of the last passed restore test of a target.',
      labelNames: ['target'] as const,
      registers,
    }),
    restoreVerificationsTotal: new Counter({
      name: `${prefix}restore_verifications_total`,
      help: 'Restore tests run, by target and result (success or failure).',
      labelNames: ['target', 'result'] as const,
      registers,
    }),
    queueJobs: new Gauge({
      name: `${prefix}queue_jobs`,
      help: 'Jobs in a queue by state (waiting, delayed, active, failed, completed; backlog = waiting plus overdue delayed) at the last probe.',
      labelNames: ['queue', 'state'] as const,
      registers,
    }),
    queueOldestWaitingSeconds: new Gauge({
      name: `${prefix}queue_oldest_waiting_seconds`,
      help: 'Seconds the longest-waiting ready or overdue delayed job of a queue has waited, at the last probe.',
      labelNames: ['queue'] as const,
      registers,
    }),
    backupDeadlineTimestamp: new Gauge({
      name: `${prefix}backup_deadline_timestamp_seconds`,
      help: 'Unix time by which the next good backup of a target is due: its next scheduled run after the last good backup, plus grace.',
      labelNames: ['target'] as const,
      registers,
    }),
    probeStatus: new Gauge({
      name: `${prefix}probe_status`,
      help: 'Result of the last health probe: 0 healthy, 1 degraded, 2 unhealthy.',
      labelNames: ['probe'] as const,
      registers,
    }),
    workersActive: new Gauge({
      name: `${prefix}workers_active`,
      help: 'Workers with a live heartbeat in Redis, by queue they consume.',
      labelNames: ['queue'] as const,
      registers,
    }),
    diskUsageRatio: new Gauge({
      name: `${prefix}disk_usage_ratio`,
      help: 'Used fraction (0 to 1) of the filesystem holding a watched path (spool directory and others).',
      labelNames: ['path'] as const,
      registers,
    }),
    notificationsTotal: new Counter({
      name: `${prefix}notifications_total`,
      help: 'Alert notifications by channel and outcome (sent, failed, suppressed, logged).',
      labelNames: ['channel', 'outcome'] as const,
      registers,
    }),
  };
}

/** Numeric value of a probe status for {@link WardenMetrics.probeStatus}. */
export function probeStatusValue(status: 'healthy' | 'degraded' | 'unhealthy'): 0 | 1 | 2 {
  return status === 'healthy' ? 0 : status === 'degraded' ? 1 : 2;
}
