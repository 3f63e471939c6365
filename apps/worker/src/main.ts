import { hostname } from 'node:os';
import { gzipFallbackWarning } from '@warden/backup';
import { resolveLogFormat } from '@warden/logging';
import { startMetricsServer } from '@warden/metrics';
import { installProcessErrorHandlers } from '@warden/notify';
import { createWorkerHeartbeat } from '@warden/probes';
import { ALL_QUEUE_NAMES } from '@warden/queue';
import { silenceAwsNodeVersionWarning } from '@warden/storage';
import { createWorkerRuntime } from './runtime.js';
import { createWorkerServices, loadWorkerConfigOrExit } from './services.js';

silenceAwsNodeVersionWarning();

const config = loadWorkerConfigOrExit(process.env);
const services = createWorkerServices(config, {
  service: `${config.serviceName}-worker`,
  logFormat: resolveLogFormat(config.logFormat, process.stdout.isTTY === true),
});
const { logger } = services;

installProcessErrorHandlers({
  reporter: services.errorReporter,
  logger,
  onFatal: () => process.exit(1),
});

const runtime = createWorkerRuntime({
  config,
  logger,
  storage: services.storage,
  events: services.events,
  createConnection: services.createConnection,
  errorReporter: services.errorReporter,
  deadman: services.deadman,
  shutdownGraceMs: config.worker.shutdownGraceMs,
});
const heartbeatRedis = services.createConnection('warden-worker:heartbeat');
heartbeatRedis.on('error', (error: Error) =>
  logger.warn({ err: error }, 'redis connection error (heartbeat)'),
);
const heartbeat = createWorkerHeartbeat({
  redis: heartbeatRedis,
  queuePrefix: config.redis.queuePrefix,
  queues: [...ALL_QUEUE_NAMES],
  workerId: `${hostname()}:${process.pid}`,
});

let shuttingDown = false;
async function shutdown(signal: string) {
  if (shuttingDown) {
    logger.warn({ signal }, 'second signal; exiting now');
    process.exit(1);
  }
  shuttingDown = true;
  logger.info({ signal }, 'shutting down');
  // The grace period, then a few seconds to hand jobs back and close the clients.
  const hardDeadline = setTimeout(() => {
    logger.error('shutdown took too long; exiting');
    process.exit(1);
  }, config.worker.shutdownGraceMs + 15_000);
  hardDeadline.unref();
  try {
    await heartbeat.stop();
    await runtime.close();
    await metricsServer?.close();
    await heartbeatRedis.quit().catch(() => heartbeatRedis.disconnect());
    await services.close();
    process.exit(0);
  } catch (error) {
    logger.error({ err: error }, 'error during shutdown');
    process.exit(1);
  }
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

const slowGzip = await gzipFallbackWarning(config.backup);
if (slowGzip) logger.warn({ gzipEngine: 'zlib' }, slowGzip);

await runtime.start();
heartbeat.start();
const metricsServer = services.metrics
  ? await startMetricsServer({
      registry: services.metrics.registry,
      port: config.worker.metricsPort,
      host: config.http.host,
      logger,
    })
  : undefined;
if (metricsServer) logger.info({ port: metricsServer.port }, 'worker metrics listening');
