export { type HealthReport, type HealthStatus, type ProbeResult, worstStatus } from './types.js';
