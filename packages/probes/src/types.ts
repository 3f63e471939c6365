/** Status words of docs/architecture.md#health; uptime monitors match `"status":"healthy"`. */
export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';

export interface ProbeResult {
  status: HealthStatus;
  response_time_ms?: number;
  /** Plain reason when not healthy; never contains secrets. */
  error?: string;
  [detail: string]: unknown;
}

/** The `GET /health/detailed` body (docs/architecture.md#health). */
export interface HealthReport {
  status: HealthStatus;
  /** Unix seconds. */
  timestamp: number;
  services: Record<string, ProbeResult>;
}

/** Worst of several statuses: unhealthy > degraded > healthy. */
export function worstStatus(statuses: Iterable<HealthStatus>): HealthStatus {
  let worst: HealthStatus = 'healthy';
  for (const status of statuses) {
    if (status === 'unhealthy') return 'unhealthy';
    if (status === 'degraded') worst = 'degraded';
  }
  return worst;
}
