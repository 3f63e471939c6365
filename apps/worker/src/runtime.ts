import { hostname } from 'node:os';
import { removeJobSpoolRecord } from '@warden/backup';
import type { WardenConfig } from '@warden/config';
import type { Logger } from '@warden/logging';
import { QUEUE_NAMES, type RedisConnection } from '@warden/queue';
import type { BackupStorage } from '@warden/storage';
import { type Job, Queue, type Worker } from 'bullmq';
import type { BackupEvents } from './backup-events.js';
import { createServerSlots } from './backup-pacing.js';
import { FailoverTolerantWorker } from './failover-worker.js';
import { createBackupProcessor } from './processors/backups.processor.js';
import {
  createRestoreEvents,
  createRestoreProcessor,
  type RestoreEvents,
} from './processors/restores.processor.js';
import { sweepSpool } from './spool-cleanup.js';
import { createTargetLock } from './target-lock.js';

/** How often the spool sweep looks for files no job owns (besides once at start-up). */
export const SPOOL_SWEEP_INTERVAL_MS = 10 * 60_000;

export interface JobFailureReporter {
  captureJobFailure(
    error: unknown,
    context: { queue: string; jobId?: string; target?: string; attempt?: number },
  ): void;
}

export interface WorkerRuntimeDeps {
  config: WardenConfig;
  logger: Logger;
  storage: BackupStorage;
  /** Backup events; restore events too when present (log-only otherwise). */
  events: BackupEvents & Partial<RestoreEvents>;
  /** A fresh Redis client with worker settings (`maxRetriesPerRequest: null`). */
  createConnection: (name: string) => RedisConnection;
  errorReporter?: JobFailureReporter;
  /** Dead-man "start" ping of a scheduled backup. */
  deadman?: ((target: string, event: 'start') => Promise<void>) | undefined;
  /** How long `close()` lets running jobs finish before handing them back. @defaultValue config.worker.shutdownGraceMs */
  shutdownGraceMs?: number;
}

export interface WorkerRuntime {
  start(): Promise<void>;
  /** Stops taking jobs, lets running ones finish within the grace period, hands back the rest. */
  close(): Promise<void>;
}

export function createWorkerRuntime(deps: WorkerRuntimeDeps): WorkerRuntime {
  const { config, logger } = deps;
  const connections: RedisConnection[] = [];
  const workers: Worker[] = [];
  const host = hostname();
  let sweepTimer: NodeJS.Timeout | undefined;
  let sweeping: Promise<void> | undefined;
  let jobStates: Queue | undefined;

  function connection(name: string): RedisConnection {
    const client = deps.createConnection(`warden-worker:${name}`);
    client.on('error', (error: Error) =>
      logger.warn({ err: error, connection: name }, 'redis connection error'),
    );
    connections.push(client);
    return client;
  }

  function watch(worker: Worker) {
    worker.on('error', (error) => logger.error({ err: error, queue: worker.name }, 'worker error'));
    worker.on('failed', (job: Job | undefined, error: Error) => {
      logger.error(
        { err: error, queue: worker.name, jobId: job?.id, target: job?.data?.target },
        'job failed',
      );
      deps.errorReporter?.captureJobFailure(error, {
        queue: worker.name,
        jobId: job?.id,
        target: job?.data?.target,
        attempt: job?.attemptsMade,
      });
    });
    worker.on('stalled', (jobId) =>
      logger.warn({ queue: worker.name, jobId }, 'job stalled; it will be retried'),
    );
    workers.push(worker);
  }

  return {
    async start() {
      const lockRedis = connection('locks');
      const common = {
        prefix: config.redis.queuePrefix,
        autorun: true,
        // The dump runs in child processes, so the event loop stays free to renew the job lock.
        lockDuration: config.worker.lockDurationMs,
        stalledInterval: config.worker.stalledIntervalMs,
        maxStalledCount: 2,
        removeOnComplete: { age: 30 * 24 * 3600, count: 1000 },
        removeOnFail: { age: 90 * 24 * 3600, count: 5000 },
      };
      // One lock per target for both queues: a restore's safety backup and a backup of the same
      // target never run at once.
      const lockFor = (target: string) =>
        createTargetLock({
          redis: lockRedis,
          key: `${config.redis.queuePrefix}:lock:backup:${target}`,
          ttlMs: config.worker.lockDurationMs,
          onRenewError: (error) => logger.warn({ err: error, target }, 'could not renew target lock'),
        });
      // A dead holder's target lock expires together with its job lock, so the stalled job can
      // start again as soon as it is recovered.
      const lockedRetryDelayMs = Math.min(30_000, config.worker.lockDurationMs);
      // One set of dump slots per database server for both queues: a restore's safety dump counts
      // against BACKUP_SERVER_CONCURRENCY like a backup's.
      const serverSlots = createServerSlots({
        redis: lockRedis,
        keyPrefix: `${config.redis.queuePrefix}:server-slots`,
        limit: config.backup.serverConcurrency,
        ttlMs: config.worker.lockDurationMs,
        onRenewError: (error) => logger.warn({ err: error }, 'could not renew a database server slot'),
      });
      const backupProcessor = createBackupProcessor({
        targets: config.targets,
        settings: { ...config.backup },
        storage: deps.storage,
        logger,
        events: deps.events,
        host,
        lockedRetryDelayMs,
        serverSlots,
        scheduleSpreadMs: config.backup.scheduleSpreadMs,
        ...(deps.deadman ? { onScheduledStart: (target: string) => deps.deadman?.(target, 'start') } : {}),
        scheduleOf: (name) => {
          const target = config.targets.find((candidate) => candidate.name === name);
          return target ? { pattern: target.schedule, timezone: target.timezone } : undefined;
        },
        lockFor,
      });
      const backupWorker = new FailoverTolerantWorker(QUEUE_NAMES.backups, backupProcessor, {
        ...common,
        connection: connection(QUEUE_NAMES.backups),
        concurrency: config.worker.concurrency,
        name: `${host}:${process.pid}`,
      });
      // Completed: the job's record in the spool has done its work (a re-run is no longer possible).
      backupWorker.on('completed', (job: Job) => {
        const target = config.targets.find((candidate) => candidate.name === job.data?.target);
        if (!target) return;
        removeJobSpoolRecord(config.backup.spoolDir, target.name, String(job.id)).catch((error: unknown) =>
          logger.warn({ err: error, jobId: job.id }, 'could not remove the job record from the spool'),
        );
      });
      watch(backupWorker);
      watch(
        new FailoverTolerantWorker(
          QUEUE_NAMES.restores,
          createRestoreProcessor({
            targets: config.targets,
            settings: {
              spoolDir: config.backup.spoolDir,
              minFreeBytes: config.backup.minFreeBytes,
              psqlPath: config.backup.psqlPath,
              timeoutMs: config.backup.timeoutMs,
              encryptionKey: config.backup.encryptionKey,
              safetyBackup: { ...config.backup },
            },
            storage: deps.storage,
            logger,
            events: { ...createRestoreEvents({ logger }), ...deps.events },
            lockFor,
            lockedRetryDelayMs,
            serverSlots,
          }),
          {
            ...common,
            connection: connection(QUEUE_NAMES.restores),
            concurrency: config.worker.restoreConcurrency,
            name: `${host}:${process.pid}`,
          },
        ),
      );
      await Promise.all(workers.map((worker) => worker.waitUntilReady()));
      const states = new Queue(QUEUE_NAMES.backups, {
        connection: lockRedis,
        prefix: config.redis.queuePrefix,
      });
      states.on('error', () => undefined);
      jobStates = states;
      const sweep = () => {
        sweeping ??= sweepSpool({
          spoolDir: config.backup.spoolDir,
          jobState: (jobId) => states.getJobState(jobId),
          lockFor,
          logger,
        })
          .then(() => undefined)
          .catch((error: unknown) => logger.warn({ err: error }, 'could not sweep the spool directory'))
          .finally(() => {
            sweeping = undefined;
          });
      };
      sweep();
      sweepTimer = setInterval(sweep, SPOOL_SWEEP_INTERVAL_MS);
      sweepTimer.unref();
      logger.info(
        { queues: workers.map((worker) => worker.name), concurrency: config.worker.concurrency, host },
        'worker started',
      );
    },

    async close() {
      if (sweepTimer) clearInterval(sweepTimer);
      await sweeping;
      await jobStates?.close().catch(() => undefined);
      const graceMs = deps.shutdownGraceMs ?? config.worker.shutdownGraceMs;
      const graceful = Promise.all(workers.map((worker) => worker.close()));
      const timedOut = await Promise.race([
        graceful.then(() => false),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(true), graceMs).unref()),
      ]);
      if (timedOut) {
        logger.warn({ graceMs }, 'jobs still running after the grace period; handing them back');
        for (const worker of workers) worker.cancelAllJobs('worker shutting down');
        await Promise.race([graceful, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
        await Promise.all(workers.map((worker) => worker.close(true).catch(() => undefined)));
      }
      await Promise.all(connections.map((client) => client.quit().catch(() => client.disconnect())));
    },
  };
}
