import { describe, expect, it } from 'vitest';
import { createMetrics, DROPPED_DEFAULT_METRICS, probeStatusValue } from './create-metrics.js';

describe('createMetrics', () => {
  it('registers every metric under the prefix on its own registry', async () => {
    const metrics = createMetrics({ prefix: 'acme_', collectDefaultMetrics: false });
    const names = (await metrics.registry.getMetricsAsJSON()).map((metric) => metric.name).sort();
    expect(names).toEqual([
      'acme_backup_deadline_timestamp_seconds',
      'acme_backup_duration_seconds',
      'acme_backup_failures_total',
      'acme_backup_last_success_timestamp_seconds',
      'acme_backup_size_bytes',
      'acme_backup_upload_retries_total',
      'acme_disk_usage_ratio',
      'acme_http_request_duration_seconds',
      'acme_http_requests_total',
      'acme_last_verified_restore_timestamp_seconds',
      'acme_notifications_total',
      'acme_probe_status',
      'acme_queue_jobs',
      'acme_queue_oldest_waiting_seconds',
      'acme_restore_verifications_total',
      'acme_workers_active',
    ]);
  });

  it('can be created twice in one process (no global registry)', () => {
    const a = createMetrics({ prefix: 'warden_' });
    const b = createMetrics({ prefix: 'warden_' });
    expect(a.registry).not.toBe(b.registry);
  });

  it('documents the probe status scale in HELP', async () => {
    const metrics = createMetrics({ prefix: 'warden_', collectDefaultMetrics: false });
    metrics.probeStatus.set({ probe: 'disk' }, probeStatusValue('degraded'));
    const text = await metrics.registry.metrics();
    expect(text).toContain(
      '# HELP warden_probe_status Result of the last health probe: 0 healthy, 1 degraded, 2 unhealthy.',
    );
    expect(text).toContain('warden_probe_status{probe="disk"} 1');
    expect([probeStatusValue('healthy'), probeStatusValue('unhealthy')]).toEqual([0, 2]);
  });

  it('keeps Node default metrics but not the gauges misnamed with _total', async () => {
    const metrics = createMetrics({ prefix: 'warden_', defaultLabels: { service: 'api' } });
    const text = await metrics.registry.metrics();
    expect(text).toContain('process_cpu_user_seconds_total{service="api"}');
    expect(text).toContain('# TYPE nodejs_active_handles gauge');
    for (const name of DROPPED_DEFAULT_METRICS) expect(text).not.toContain(`${name} `);
    for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      if (name?.endsWith('_total')) expect(type, name).toBe('counter');
    }
  });

  it('refuses a prefix that is not a metric name prefix', () => {
    expect(() => createMetrics({ prefix: 'warden-' })).toThrow(TypeError);
  });
});
