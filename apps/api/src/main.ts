import { fileURLToPath } from 'node:url';
import {
  alertKeyPrefix,
  createAlertHistoryFromConfig,
  createErrorReporterFromConfig,
  createSlackNotifierFromConfig,
  loadConfigOrExit,
} from '@warden/bootstrap';
import { catalogIndexKey, createIndexedCatalog } from '@warden/catalog';
import { collectSecrets, type WardenConfig } from '@warden/config';
import { createLogger, type Logger, resolveLogFormat } from '@warden/logging';
import { createMetrics } from '@warden/metrics';
import { createConditionTracker, installProcessErrorHandlers } from '@warden/notify';
import { createHealthChecker, createLatestHealth } from '@warden/probes';
import { ALL_QUEUE_NAMES, createRedisConnection, QUEUE_NAMES } from '@warden/queue';
import {
  type BackupStorage,
  createLocalStorage,
  createS3Storage,
  silenceAwsNodeVersionWarning,
} from '@warden/storage';
import { Queue } from 'bullmq';
import { buildApp } from './app.js';
import { createBackupFreshnessSource } from './backup-freshness.js';
import { consoleUrl } from './console/console-url.js';
import type { WardenQueues } from './deps.js';
import { StartupError } from './errors.js';
import { assertSafeBinding } from './plugins/auth.js';
import { createProbeRunner } from './probe-runner.js';
import { syncSchedulers } from './schedules.js';

/** Each shutdown step gets this long; the sum stays under a typical 30 s orchestrator kill timeout. */
const STEP_DEADLINE_MS = 8_000;

silenceAwsNodeVersionWarning();

function loadApiConfigOrExit(): WardenConfig {
  return loadConfigOrExit(process.env, {
    messagePrefix: 'warden-api: ',
    packageJsonUrl: new URL('../package.json', import.meta.url),
    check: (config) => assertSafeBinding(config.http.host, config.http.adminApiToken),
    isRefusal: (error) => error instanceof StartupError,
  });
}

function createStorage(config: WardenConfig): BackupStorage {
  const storage = config.storage;
  if (storage.kind === 'local') {
    return createLocalStorage({ dir: storage.dir, groupReadable: storage.groupReadable });
  }
  return createS3Storage({
    bucket: storage.bucket,
    region: storage.region,
    accessKeyId: storage.accessKeyId,
    secretAccessKey: storage.secretAccessKey,
    endpoint: storage.endpoint,
    forcePathStyle: storage.forcePathStyle,
    prefix: storage.prefix,
    serverSideEncryption: storage.serverSideEncryption,
    kmsKeyId: storage.kmsKeyId,
    checksumWhenRequired: storage.checksumWhenRequired,
  });
}

/** Runs one close step, but never for longer than its deadline; failures are logged, not thrown. */
async function closeStep(logger: Logger, name: string, close: () => Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), STEP_DEADLINE_MS);
  });
  try {
    const outcome = await Promise.race([close().then(() => 'closed' as const), deadline]);
    if (outcome === 'timeout')
      logger.warn({ step: name, deadlineMs: STEP_DEADLINE_MS }, 'close step timed out');
  } catch (error) {
    logger.warn({ err: error, step: name }, 'close step failed');
  } finally {
    clearTimeout(timer);
  }
}

const config = loadApiConfigOrExit();
const secrets = collectSecrets(config);
const logger = createLogger({
  service: `${config.serviceName}-api`,
  level: config.logLevel,
  secrets,
  format: resolveLogFormat(config.logFormat, process.stdout.isTTY === true),
});

const errorReporter = createErrorReporterFromConfig(config, { logger, tags: { service: 'api' } });
// An unhandled rejection is captured and logged; an uncaught exception leaves the process in an
// unknown state, so after flushing Sentry the API exits and the orchestrator restarts it.
installProcessErrorHandlers({ reporter: errorReporter, logger, onFatal: () => process.exit(1) });

// One fail-fast producer connection shared by the queues and the health probes: an HTTP request
// must get an error when Redis is away, not hang.
const redis = createRedisConnection({
  url: config.redis.url,
  sentinels: config.redis.sentinels,
  sentinelName: config.redis.sentinelName,
  clusterNodes: config.redis.clusterNodes,
  role: 'producer',
  connectionName: `${config.serviceName}-api`,
});
redis.on('error', (error: Error) => logger.warn({ err: error }, 'redis connection error'));

function createQueue(name: string): Queue {
  const queue = new Queue(name, { connection: redis, prefix: config.redis.queuePrefix });
  queue.on('error', (error) => logger.error({ err: error, queue: name }, 'queue error'));
  return queue;
}
const queues: WardenQueues = {
  backups: createQueue(QUEUE_NAMES.backups),
  restores: createQueue(QUEUE_NAMES.restores),
  probes: createQueue(QUEUE_NAMES.probes),
};
const storage = createStorage(config);
const metrics = config.metrics.enabled
  ? createMetrics({ prefix: config.metrics.prefix, defaultLabels: { service: 'api' } })
  : undefined;
const healthChecker = createHealthChecker({
  databases: config.targets.map((target) => ({ name: target.name, url: target.databaseUrl })),
  redis,
  queuePrefix: config.redis.queuePrefix,
  queues: ALL_QUEUE_NAMES,
  concurrency: config.alerts.probeConcurrency,
  timeoutMs: config.alerts.probeTimeoutMs,
  spoolDir: config.backup.spoolDir,
  diskPaths: config.storage.kind === 'local' ? [config.storage.dir] : [],
  thresholds: {
    diskWarningPercent: config.alerts.diskWarningPercent,
    diskCriticalPercent: config.alerts.diskCriticalPercent,
    queueLengthThreshold: config.alerts.queueLengthThreshold,
  },
  backups: config.backup.enabled
    ? createBackupFreshnessSource(
        storage,
        config.targets.filter((target) => target.enabled),
      )
    : undefined,
});

// Alerts from the periodic probes. Throttle windows and condition state live in Redis under the same
// prefix the worker uses, so the API and every worker share them (docs/architecture.md#alerts). The fail-fast client is
// deliberate: while Redis is down both fall back to in-process state at once instead of hanging.
const notifier = createSlackNotifierFromConfig(config, { redis, logger, metrics });
const tracker = createConditionTracker({
  notifier,
  redis,
  keyPrefix: alertKeyPrefix(config),
  afterFailures: config.alerts.afterFailures,
  resolveAfter: config.alerts.resolveAfter,
  logger,
});
// `GET /health/detailed` answers from the latest cycle (any replica's, through Redis): a request
// opens no database connection, however many targets there are.
const latestHealth = createLatestHealth({
  redis,
  key: `${config.redis.queuePrefix}:probes:latest`,
  intervalMs: config.alerts.probeIntervalSeconds * 1000,
  probeNow: () => healthChecker.detailed(),
});
// BullMQ Workers need a client that waits for Redis (`maxRetriesPerRequest: null`).
const probesRedis = createRedisConnection({
  url: config.redis.url,
  sentinels: config.redis.sentinels,
  sentinelName: config.redis.sentinelName,
  clusterNodes: config.redis.clusterNodes,
  role: 'worker',
  connectionName: `${config.serviceName}-api:probes`,
});
probesRedis.on('error', (error: Error) => logger.warn({ err: error }, 'redis connection error (probes)'));
const probeRunner = createProbeRunner({
  connection: probesRedis,
  queuePrefix: config.redis.queuePrefix,
  checker: healthChecker,
  results: latestHealth,
  tracker,
  thresholds: {
    diskWarningPercent: config.alerts.diskWarningPercent,
    diskCriticalPercent: config.alerts.diskCriticalPercent,
    queueLengthThreshold: config.alerts.queueLengthThreshold,
  },
  metrics,
  logger,
  redis,
  intervalMs: config.alerts.probeIntervalSeconds * 1000,
  // Redis came back without its data: bring back every scheduler, backups included.
  onStalled: () => syncSchedulers({ queues, config, logger }),
  errorReporter,
});

const app = await buildApp(
  {
    config,
    logger,
    queues,
    storage,
    catalog: createIndexedCatalog({ storage, redis, key: catalogIndexKey(config.redis.queuePrefix) }),
    health: latestHealth,
    alerts: createAlertHistoryFromConfig(config, redis),
    metrics,
    redis,
    errorReporter,
  },
  {
    // `npm run build` writes the console beside dist/api.mjs; from sources it is bundled on first use.
    consoleAssetsDir: fileURLToPath(new URL('./console/', import.meta.url)),
  },
);

let shuttingDown = false;
async function shutdown(signal: string): Promise<void> {
  if (shuttingDown) {
    logger.warn({ signal }, 'second signal; exiting now');
    process.exit(1);
  }
  shuttingDown = true;
  logger.info({ signal }, 'shutting down');
  // Reverse start order: stop taking requests (in-flight ones finish; new ones get 503), then the
  // clients the requests used.
  await closeStep(logger, 'http', () => app.close());
  await closeStep(logger, 'probes', () => probeRunner.close());
  await closeStep(logger, 'notifications', () => notifier.close());
  await closeStep(logger, 'health', () => healthChecker.close());
  await closeStep(logger, 'queues', () => Promise.all(Object.values(queues).map((queue) => queue.close())));
  await closeStep(logger, 'storage', () => storage.close());
  await closeStep(logger, 'redis', () =>
    Promise.all([
      probesRedis.quit().catch(() => probesRedis.disconnect()),
      redis.quit().catch(() => redis.disconnect()),
    ]),
  );
  await closeStep(logger, 'sentry', () => errorReporter.close());
  logger.info('shut down');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

try {
  await syncSchedulers({ queues, config, logger });
  const address = await app.listen({ host: config.http.host, port: config.http.port });
  logger.info(
    {
      address,
      adminAuth: config.http.adminApiToken ? 'token' : 'loopback-only',
      targets: config.targets.length,
    },
    'api listening',
  );
  logger.info(
    { url: consoleUrl(config.http.host, config.http.port) },
    `Warden console at ${consoleUrl(config.http.host, config.http.port)}${config.http.adminApiToken ? ' (any user name, ADMIN_API_TOKEN as password)' : ''}`,
  );
  // Started after listening: the API is the watcher that runs the periodic probes (probe-runner.ts).
  await probeRunner.start();
} catch (error) {
  logger.fatal({ err: error }, 'api failed to start');
  errorReporter.captureException(error, { phase: 'startup' });
  await closeStep(logger, 'http', () => app.close());
  await closeStep(logger, 'probes', () => probeRunner.close());
  await closeStep(logger, 'queues', () => Promise.all(Object.values(queues).map((queue) => queue.close())));
  await closeStep(logger, 'sentry', () => errorReporter.close());
  redis.disconnect();
  probesRedis.disconnect();
  process.exit(1);
}
