import type { Cluster, Redis } from 'ioredis';
import { type LatestBackupSource, probeBackups } from './backups-probe.js';
import { type DatabaseProbeTarget, probeDatabase } from './database-probe.js';
import { type DiskUsageReader, probeDisk, readDiskUsage } from './disk-probe.js';
import { createQueuesProbe } from './queues-probe.js';
import { probeRedis } from './redis-probe.js';
import { type HealthReport, type ProbeResult, worstStatus } from './types.js';
import { probeWorkers } from './workers-probe.js';

/** SPEC A5: every threshold is configuration. */
export interface HealthThresholds {
  /** `DISK_WARNING_PERCENT` (80): above it the disk is degraded. */
  diskWarningPercent: number;
  /** `DISK_CRITICAL_PERCENT` (90): above it the disk is unhealthy. */
  diskCriticalPercent: number;
  /** `QUEUE_LENGTH_THRESHOLD` (100): waiting + delayed above it is a backlog. */
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
  /** Per probe. @defaultValue 5000 */
  timeoutMs?: number | undefined;
  /** Injectable for tests. @defaultValue statfs of the path */
  diskUsage?: DiskUsageReader | undefined;
}

export interface HealthChecker {
  /** The SPEC H1 body of `GET /health/detailed`. Never throws; a failing probe is a status. */
  detailed(): Promise<HealthReport>;
  close(): Promise<void>;
}

/** Default grace for a scheduled backup run to finish (dump, verify, upload with retries). */
const DEFAULT_BACKUP_GRACE_MS = 2 * 3600 * 1000;

export function createHealthChecker(options: HealthCheckerOptions): HealthChecker {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const queuesProbe = createQueuesProbe({
    redis: options.redis,
    queuePrefix: options.queuePrefix,
    queues: options.queues,
    queueLengthThreshold: options.thresholds.queueLengthThreshold,
  });
  const diskPaths = [options.spoolDir, ...(options.diskPaths ?? [])];

  const probeDatabases = async (): Promise<ProbeResult> => {
    if (options.databases.length === 0) return { status: 'healthy', targets: {} };
    const results = await Promise.all(
      options.databases.map(async (target) => [target.name, await probeDatabase(target, timeoutMs)] as const),
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
        probeDatabases(),
        probeRedis(options.redis, timeoutMs),
        probeDisk(diskPaths, options.thresholds, options.diskUsage ?? readDiskUsage),
        probeWorkers(options.redis, options.queuePrefix, options.queues, timeoutMs),
        queuesProbe.probe(timeoutMs),
        options.backups
          ? probeBackups(options.backups, {
              timeoutMs,
              graceMs: options.backups.graceMs ?? DEFAULT_BACKUP_GRACE_MS,
            })
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
