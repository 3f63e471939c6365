import {
  alertKeyPrefix,
  createErrorReporterFromConfig,
  createSlackNotifierFromConfig,
  loadConfigOrExit,
} from '@warden/bootstrap';
import { addToCatalogIndex, catalogIndexKey } from '@warden/catalog';
import { collectSecrets, type WardenConfig } from '@warden/config';
import { BACKUP_ERROR_CODES, type BackupFailureCode } from '@warden/errors';
import { createLogger, type LogFormat, type Logger } from '@warden/logging';
import { createMetrics, type WardenMetrics } from '@warden/metrics';
import {
  createBackgroundNotifier,
  type ErrorReporter,
  type Notifier,
  withRedisTimeout,
} from '@warden/notify';
import { createRedisConnection, type RedisConnection } from '@warden/queue';
import { type BackupStorage, createStorage } from '@warden/storage';
import type { DestinationStream } from 'pino';
import { type BackupEvents, createBackupEvents, startOverdueDigestSweep } from './backup-events.js';
import { createDeadmanPinger, type DeadmanEvent } from './deadman.js';
import { createRestoreEvents, type RestoreEvents } from './processors/restores.processor.js';
import { createSuccessDigest } from './success-digest.js';

/** Writes beside a backup (the catalog index) wait this long for Redis at most, never the job. */
const REDIS_SIDE_WRITE_TIMEOUT_MS = 2_000;

/** Loads the configuration, or prints every problem and exits with status 2. Only for `main`s. */
export function loadWorkerConfigOrExit(env: NodeJS.ProcessEnv): WardenConfig {
  return loadConfigOrExit(env, {
    messagePrefix: 'Warden cannot start. ',
    packageJsonUrl: new URL('../../../package.json', import.meta.url),
  });
}

/**
 * Every `reason` label `backup-events.ts` can give `backup_failures_total`: the codes a backup can
 * fail with (from the one table of codes) plus `UNKNOWN`.
 */
const FAILURE_REASONS: readonly (BackupFailureCode | 'UNKNOWN')[] = [
  ...(Object.keys(BACKUP_ERROR_CODES) as (keyof typeof BACKUP_ERROR_CODES)[]),
  'ENCRYPTION_KEY_INVALID',
  'UNKNOWN',
];

/**
 * A counter series only exists after its first increment, and Prometheus' `increase()` cannot see
 * the step from "absent" to 1, so the first failure after every restart would be missed by the
 * `WardenBackupFailing` alert. Exposing every target's series at 0 from the start fixes that.
 */
export function presetBackupCounters(
  metrics: Pick<WardenMetrics, 'backupFailuresTotal' | 'backupUploadRetriesTotal'>,
  targets: readonly { name: string }[],
): void {
  for (const target of targets) {
    metrics.backupUploadRetriesTotal.inc({ target: target.name }, 0);
    for (const reason of FAILURE_REASONS) metrics.backupFailuresTotal.inc({ target: target.name, reason }, 0);
  }
}

export interface WorkerServices {
  logger: Logger;
  storage: BackupStorage;
  metrics: WardenMetrics | undefined;
  notifier: Notifier;
  errorReporter: ErrorReporter;
  events: BackupEvents & RestoreEvents;
  createConnection: (name: string) => RedisConnection;
  /** Dead-man pings of a target (no-op without URLs). Never throws. */
  deadman: (target: string, event: DeadmanEvent) => Promise<void>;
  close(): Promise<void>;
}

export interface CreateServicesOptions {
  service: string;
  /** Where logs go; the CLI keeps stdout for its JSON result. */
  logDestination?: DestinationStream;
  /** @defaultValue 'json' */
  logFormat?: LogFormat;
}

/** Builds the clients a worker or CLI process needs from the configuration; `close()` closes them all. */
export function createWorkerServices(config: WardenConfig, options: CreateServicesOptions): WorkerServices {
  const secrets = collectSecrets(config);
  const logger = createLogger({
    service: options.service,
    level: config.logLevel,
    secrets,
    destination: options.logDestination,
    format: options.logFormat ?? 'json',
  });
  const createConnection = (name: string) =>
    createRedisConnection({ ...config.redis, role: 'worker', connectionName: name });
  const notifyRedis = createConnection(`${options.service}:notify`);
  notifyRedis.on('error', (error: Error) =>
    logger.warn({ err: error }, 'redis connection error (notifications)'),
  );
  const storage = createStorage(config.storage);
  const metrics = config.metrics.enabled
    ? createMetrics({
        prefix: config.metrics.prefix,
        collectDefaultMetrics: true,
        defaultLabels: { service: options.service },
      })
    : undefined;
  if (metrics) presetBackupCounters(metrics, config.targets);
  // Jobs never wait for Slack; `close()` below still delivers what is in flight.
  const notifier = createBackgroundNotifier(
    createSlackNotifierFromConfig(config, { redis: notifyRedis, logger, metrics }),
    { logger },
  );
  const errorReporter = createErrorReporterFromConfig(config, { logger });
  const deadman = createDeadmanPinger({
    urlsOf: (name) => config.targets.find((target) => target.name === name)?.deadman,
    onError: (err, context) => logger.warn({ err, ...context }, 'dead-man ping failed'),
  });
  const digest = createSuccessDigest({
    redis: notifyRedis,
    keyPrefix: alertKeyPrefix(config),
    targets: config.targets,
  });
  const stopDigestSweep =
    config.alerts.successMode === 'digest'
      ? startOverdueDigestSweep({ digest, notifier, logger })
      : () => undefined;
  const events = {
    ...createBackupEvents({
      logger,
      notifier,
      metrics,
      successMode: config.alerts.successMode,
      digest,
      indexBackup: (manifestKey) =>
        withRedisTimeout(
          addToCatalogIndex(notifyRedis, catalogIndexKey(config.redis.queuePrefix), manifestKey),
          REDIS_SIDE_WRITE_TIMEOUT_MS,
        ).catch((error: unknown) =>
          logger.warn({ err: error }, 'could not add the backup to the catalog index'),
        ),
      deadman,
    }),
    ...createRestoreEvents({ logger, notifier, metrics }),
  };

  return {
    logger,
    storage,
    metrics,
    notifier,
    errorReporter,
    events,
    createConnection,
    deadman,
    async close() {
      stopDigestSweep();
      await notifier.close().catch(() => undefined);
      await errorReporter.close(2_000).catch(() => undefined);
      await storage.close().catch(() => undefined);
      await notifyRedis.quit().catch(() => notifyRedis.disconnect());
    },
  };
}
