import path from 'node:path';
import { parseHostList, parseTrustedProxies } from './address-lists.js';
import { ConfigError } from './config-error.js';
import type { Env } from './env-interpolation.js';
import { parseEachVariable } from './parse-variables.js';
import { storageConfigOf } from './storage-config.js';
import { resolveTargets } from './targets.js';
import type { WardenConfig } from './warden-config.js';

export interface LoadConfigOptions {
  /** Where relative paths (BACKUP_DIR, WARDEN_CONFIG, …) are resolved from. @defaultValue process.cwd() */
  cwd?: string;
  /** Version used when APP_VERSION is not set (usually package.json's). */
  defaultRelease?: string;
}

/**
 * Parses the environment into a typed configuration. Pure apart from reading the targets file:
 * every problem is collected and reported at once in a {@link ConfigError}.
 */
export function loadConfig(env: Env, options: LoadConfigOptions = {}): WardenConfig {
  const cwd = options.cwd ?? process.cwd();
  const problems: string[] = [];
  const e = parseEachVariable(env, problems);

  const targets = resolveTargets(e, env, cwd, problems);
  const storage = storageConfigOf(e, cwd, problems);

  if (e.DISK_WARNING_PERCENT >= e.DISK_CRITICAL_PERCENT) {
    problems.push('DISK_WARNING_PERCENT: must be lower than DISK_CRITICAL_PERCENT');
  }
  if (e.REDIS_SENTINELS !== undefined && e.REDIS_SENTINEL_NAME === undefined) {
    problems.push('REDIS_SENTINEL_NAME: required when REDIS_SENTINELS is set');
  }
  const sentinels = parseHostList(e.REDIS_SENTINELS, 'REDIS_SENTINELS', problems);
  const clusterNodes = parseHostList(e.REDIS_CLUSTER_NODES, 'REDIS_CLUSTER_NODES', problems);
  if (sentinels && clusterNodes) problems.push('REDIS_SENTINELS / REDIS_CLUSTER_NODES: choose one');
  if (clusterNodes && !/\{.+\}/.test(e.QUEUE_PREFIX)) {
    problems.push('QUEUE_PREFIX: must contain a hash tag such as "{warden}" when REDIS_CLUSTER_NODES is set');
  }
  if (e.BACKUP_ENCRYPTION_KEY !== undefined && !/^[0-9a-fA-F]{64}$/.test(e.BACKUP_ENCRYPTION_KEY)) {
    problems.push('BACKUP_ENCRYPTION_KEY: must be 64 hex characters (32 bytes)');
  }

  if (e.VIEWER_API_TOKEN !== undefined && e.ADMIN_API_TOKEN === undefined) {
    problems.push(
      'VIEWER_API_TOKEN: needs ADMIN_API_TOKEN (without an admin token every loopback client has full access, so a read-only token would restrict nothing)',
    );
  }
  if (e.VIEWER_API_TOKEN !== undefined && e.VIEWER_API_TOKEN === e.ADMIN_API_TOKEN) {
    problems.push('VIEWER_API_TOKEN: must differ from ADMIN_API_TOKEN');
  }
  const trustProxy = parseTrustedProxies(e.TRUST_PROXY, problems);

  if (problems.length > 0) throw new ConfigError(problems);

  return {
    serviceName: e.SERVICE_NAME,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    release: e.APP_VERSION ?? options.defaultRelease ?? '0.0.0',
    targets,
    backup: {
      enabled: e.BACKUP_ENABLED,
      spoolDir: path.resolve(cwd, e.BACKUP_SPOOL_DIR),
      minFreeBytes: e.BACKUP_MIN_FREE_MB * 1024 * 1024,
      compression: e.BACKUP_COMPRESSION,
      gzipLevel: e.BACKUP_GZIP_LEVEL,
      gzipEngine: e.BACKUP_GZIP_ENGINE,
      rowCounts: e.BACKUP_ROW_COUNTS,
      timeoutMs: e.BACKUP_TIMEOUT_MINUTES * 60_000,
      pgDumpPath: e.PG_DUMP_PATH,
      psqlPath: e.PSQL_PATH,
      uploadRetryAttempts: e.UPLOAD_RETRY_ATTEMPTS,
      uploadRetryDelayMs: e.UPLOAD_RETRY_DELAY_MS,
      encryptionKey: e.BACKUP_ENCRYPTION_KEY,
      scheduleSpreadMs: e.BACKUP_SCHEDULE_SPREAD,
      serverConcurrency: e.BACKUP_SERVER_CONCURRENCY,
    },
    restoreVerify: { enabled: e.RESTORE_VERIFY_ENABLED, schedule: e.RESTORE_VERIFY_SCHEDULE },
    storage,
    redis: {
      url: e.REDIS_URL,
      sentinels,
      sentinelName: e.REDIS_SENTINEL_NAME,
      clusterNodes,
      queuePrefix: e.QUEUE_PREFIX,
    },
    http: {
      port: e.PORT,
      host: e.HOST,
      adminApiToken: e.ADMIN_API_TOKEN,
      viewerApiToken: e.VIEWER_API_TOKEN,
      bullBoardReadOnly: e.BULL_BOARD_READ_ONLY,
      trustProxy,
      rateLimitPerMinute: e.API_RATE_LIMIT_PER_MINUTE,
      authFailuresPerMinute: e.API_AUTH_FAILURES_PER_MINUTE,
      requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_SECONDS * 1000,
      connectionTimeoutMs: e.HTTP_CONNECTION_TIMEOUT_SECONDS * 1000,
    },
    worker: {
      metricsPort: e.WORKER_METRICS_PORT,
      concurrency: e.WORKER_CONCURRENCY,
      restoreConcurrency: e.RESTORE_CONCURRENCY,
      lockDurationMs: e.WORKER_LOCK_DURATION_MS,
      stalledIntervalMs: e.WORKER_STALLED_INTERVAL_MS,
      shutdownGraceMs: e.WORKER_SHUTDOWN_GRACE_MS,
    },
    slack: { webhookUrl: e.SLACK_WEBHOOK_URL, channel: e.SLACK_DEFAULT_CHANNEL, botName: e.SLACK_BOT_NAME },
    alerts: {
      throttleSeconds: e.ALERT_THROTTLE_SECONDS,
      queueLengthThreshold: e.QUEUE_LENGTH_THRESHOLD,
      diskWarningPercent: e.DISK_WARNING_PERCENT,
      diskCriticalPercent: e.DISK_CRITICAL_PERCENT,
      probeIntervalSeconds: e.PROBE_INTERVAL_SECONDS,
      probeConcurrency: e.PROBE_CONCURRENCY,
      probeTimeoutMs: e.PROBE_TIMEOUT_MS,
      afterFailures: e.ALERT_AFTER_FAILURES,
      resolveAfter: e.ALERT_RESOLVE_AFTER,
      successMode: e.SLACK_SUCCESS_MODE,
    },
    deadman: {
      startUrl: e.DEADMAN_START_URL,
      successUrl: e.DEADMAN_SUCCESS_URL,
      failUrl: e.DEADMAN_FAIL_URL,
    },
    sentry: {
      dsn: e.SENTRY_DSN,
      environment: e.SENTRY_ENVIRONMENT ?? e.BACKUP_ENVIRONMENT,
      tracesSampleRate: e.SENTRY_TRACES_SAMPLE_RATE,
    },
    metrics: { enabled: e.ENABLE_PROMETHEUS, prefix: e.PROMETHEUS_PREFIX },
  };
}
