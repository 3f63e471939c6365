export {
  type CreateMetricsOptions,
  createMetrics,
  DROPPED_DEFAULT_METRICS,
  probeStatusValue,
  type WardenMetrics,
} from './create-metrics.js';
export {
  type MetricsLogger,
  type MetricsServer,
  type MetricsServerOptions,
  startMetricsServer,
} from './metrics-server.js';
