export {
  type BackupFreshness,
  type BackupScheduleTarget,
  evaluateBackupFreshness,
  type LatestBackupSource,
  probeBackups,
} from './backups-probe.js';
export { type DatabaseProbeTarget, probeDatabase } from './database-probe.js';
export {
  classifyDiskUsage,
  type DiskThresholds,
  type DiskUsage,
  type DiskUsageReader,
  probeDisk,
  readDiskUsage,
} from './disk-probe.js';
export { healthAlerts } from './health-alerts.js';
export {
  createHealthChecker,
  type HealthChecker,
  type HealthCheckerOptions,
  type HealthThresholds,
} from './health-checker.js';
export { createLatestHealth, type LatestHealth, type LatestHealthOptions } from './latest-health.js';
export { mapBounded } from './map-bounded.js';
export { createQueuesProbe, type QueueStats, type QueuesProbe } from './queues-probe.js';
export { probeRedis } from './redis-probe.js';
export type {
  ConditionReporter,
  LabelledGauge,
  ProbeAlert,
  ProbeCondition,
  ProbeLogger,
  ProbeMetrics,
} from './reporting-types.js';
export {
  findRestoredDatabases,
  type RestoredDatabase,
  type RestoredDatabaseKind,
  type RestoredDatabasesReport,
  type RestoredDatabasesTarget,
  restoredDatabaseOf,
} from './restored-databases.js';
export { conditionsOf, type ProbeCycleOptions, runProbeCycle } from './run-probes.js';
export { type HealthReport, type HealthStatus, type ProbeResult, worstStatus } from './types.js';
export { ProbeTimeoutError } from './with-timeout.js';
export {
  createWorkerHeartbeat,
  heartbeatKey,
  listLiveWorkers,
  type WorkerHeartbeat,
  type WorkerHeartbeatOptions,
} from './worker-heartbeat.js';
export { probeWorkers } from './workers-probe.js';
