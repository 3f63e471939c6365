import type { Cluster, Redis } from 'ioredis';
import { type LatestBackupSource, probeBackups } from './backups-probe.js';
import { type DatabaseProbeTarget, probeDatabase } from './database-probe.js';
import { type DiskUsageReader, probeDisk, readDiskUsage } from './disk-probe.js';
import { mapBounded } from './map-bounded.js';
import { createQueuesProbe } from './queues-probe.js';
import { probeRedis } from './redis-probe.js';
import { type HealthReport, type ProbeResult, worstStatus } from './types.js';
import { createWatchedSinceRecord } from './watched-since.js';
import { HEARTBEAT_TTL_MS } from './worker-heartbeat.js';
import { probeWorkers } from './workers-probe.js';

/** Every threshold is configuration. */
export interface HealthThresholds {
  /** `DISK_WARNING_PERCENT` (80): above it the disk is degraded. */
  diskWarningPercent: number;
  /** `DISK_CRITICAL_PERCENT` (90): above it the disk is unhealthy. */
  diskCriticalPercent: number;
  /** `QUEUE_LENGTH_THRESHOLD` (100): ready plus overdue delayed jobs above it are a backlog. */
  queueLengthThreshold: number;
}

/** Options of {@link createHealthChecker}. */
export interface HealthCheckerOptions {
  /** Every backup target; each gets its own connect + `SELECT 1`. */
  databases: readonly DatabaseProbeTarget[];
  /** Shared client, not closed by the checker. */
  redis: Redis | Cluster;
  /** `QUEUE_PREFIX`. */
  queuePrefix: string;
  /** Queue names to report (normally `ALL_QUEUE_NAMES` of `@warden/queue`). */
  queues: readonly string[];
  /** `BACKUP_SPOOL_DIR`, always watched. */
  spoolDir: string;
  /** More paths to watch (e.g. `BACKUP_DIR` with local storage). */
  diskPaths?: readonly string[] | undefined;
  thresholds: HealthThresholds;
  /** Backup freshness per target; left out of the report when not given. */
  backups?: (LatestBackupSource & { graceMs?: number | undefined }) | undefined;
  /** Connect and statement timeout of each probe (`PROBE_TIMEOUT_MS`). @defaultValue 3000 */
  timeoutMs?: number | undefined;
  /**
   * Database probes (and catalog reads of the backups probe) in flight at once (`PROBE_CONCURRENCY`):
   * the most connections a probe cycle ever opens to the database servers. @defaultValue 10
   */
  concurrency?: number | undefined;
  /** Injectable for tests. @defaultValue statfs of the path */
  diskUsage?: DiskUsageReader | undefined;
  /**
   * For this long after the checker is created, and until it first sees a worker, no heartbeat is
   * "starting", not "no worker running": a worker started with the API needs its own start-up
   * before its first beat.
   * @defaultValue {@link HEARTBEAT_TTL_MS}
   */
  workerStartGraceMs?: number | undefined;
}

export interface HealthChecker {
  /**
   * Runs every probe now and returns the `GET /health/detailed` body; each service carries its
   * `checked_at`. Never throws; a failing probe is a status.
   */
  detailed(): Promise<HealthReport>;
  close(): Promise<void>;
}

/** Default grace for a scheduled backup run to finish (dump, integrity check, upload with retries). */
const DEFAULT_BACKUP_GRACE_MS = 2 * 3600 * 1000;

/** Adds the time the probe finished, so a cached report shows how old each part is. */
const stamped = async (probe: Promise<ProbeResult>): Promise<ProbeResult> => ({
  ...(await probe),
  checked_at: new Date().toISOString(),
});

export function createHealthChecker(options: HealthCheckerOptions): HealthChecker {
  const timeoutMs = options.timeoutMs ?? 3_000;
  const concurrency = options.concurrency ?? 10;
  const keyOnNode = `${options.queuePrefix}:probes:redis-check`;
  const watchedSince = createWatchedSinceRecord(options.redis, `${options.queuePrefix}:probes:watched-since`);
  const queuesProbe = createQueuesProbe({
    redis: options.redis,
    queuePrefix: options.queuePrefix,
    queues: options.queues,
    queueLengthThreshold: options.thresholds.queueLengthThreshold,
  });
  const diskPaths = [options.spoolDir, ...(options.diskPaths ?? [])];
  const workersStartingUntil = Date.now() + (options.workerStartGraceMs ?? HEARTBEAT_TTL_MS);
  // Once a worker has been seen, none is "no worker running" at once: the grace is for start-up only.
  let sawWorker = false;
  const probeWorkersOnce = async (): Promise<ProbeResult> => {
    const result = await probeWorkers(options.redis, options.queuePrefix, options.queues, timeoutMs, {
      startingUntil: sawWorker ? 0 : workersStartingUntil,
    });
    if (typeof result.active_workers === 'number' && result.active_workers > 0) sawWorker = true;
    return result;
  };

  const probeDatabases = async (): Promise<ProbeResult> => {
    if (options.databases.length === 0) return { status: 'healthy', targets: {} };
    const results = await mapBounded(
      options.databases,
      concurrency,
      async (target) => [target.name, await probeDatabase(target, timeoutMs)] as const,
    );
    const failing = results.filter(([, result]) => result.status !== 'healthy').map(([name]) => name);
    return {
      status: worstStatus(results.map(([, result]) => result.status)),
      // The slowest target is the number that matters for "is the database answering".
      response_time_ms: Math.max(...results.map(([, result]) => result.response_time_ms ?? 0)),
      targets: Object.fromEntries(results),
      ...(failing.length > 0 ? { error: `connection failed: ${failing.join(', ')}` } : {}),
    };
  };

  return {
    async detailed() {
      const [database, redis, disk, workers, queues, backups] = await Promise.all([
        stamped(probeDatabases()),
        stamped(probeRedis(options.redis, timeoutMs, keyOnNode)),
        stamped(probeDisk(diskPaths, options.thresholds, options.diskUsage ?? readDiskUsage)),
        stamped(probeWorkersOnce()),
        stamped(queuesProbe.probe(timeoutMs)),
        options.backups
          ? stamped(
              probeBackups(
                { watchedSince, ...options.backups },
                {
                  timeoutMs,
                  concurrency,
                  graceMs: options.backups.graceMs ?? DEFAULT_BACKUP_GRACE_MS,
                },
              ),
            )
          : Promise.resolve(undefined),
      ]);
      const services: Record<string, ProbeResult> = { database, redis, disk, workers, queues };
      if (backups) services.backups = backups;
      return {
        status: worstStatus(Object.values(services).map((service) => service.status)),
        timestamp: Math.floor(Date.now() / 1000),
        services,
      };
    },
    async close() {
      await queuesProbe.close();
    },
  };
}
