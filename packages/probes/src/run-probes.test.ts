import { describe, expect, it } from 'vitest';
import type { ConditionReporter, ProbeCondition } from './reporting-types.js';
import { runProbeCycle } from './run-probes.js';
import type { HealthReport } from './types.js';

const thresholds = { diskWarningPercent: 80, diskCriticalPercent: 90, queueLengthThreshold: 100 };

function reportWith(overrides: Partial<HealthReport['services']>): HealthReport {
  return {
    status: 'healthy',
    timestamp: 0,
    services: {
      database: { status: 'healthy', targets: { main: { status: 'healthy' } } },
      redis: { status: 'healthy' },
      disk: {
        status: 'healthy',
        usage_percent: 40,
        free_gb: 10,
        path: '/spool',
        paths: { '/spool': { usage_percent: 40 } },
      },
      workers: { status: 'healthy', active_workers: 1, queues: { backups: 1 } },
      queues: { status: 'healthy', backups: { status: 'healthy', waiting: 1, delayed: 0, failed: 2 } },
      ...overrides,
    },
  };
}

function recordingTracker(): ConditionReporter & { calls: ProbeCondition[] } {
  const calls: ProbeCondition[] = [];
  return {
    calls,
    async reportCycle(conditions) {
      calls.push(...conditions);
    },
  };
}

function recordingGauge() {
  const values = new Map<string, number>();
  return { values, set: (labels: object, value: number) => values.set(JSON.stringify(labels), value) };
}

describe('runProbeCycle', () => {
  it('reports every condition in one call, inactive when healthy', async () => {
    const tracker = recordingTracker();
    await runProbeCycle({ checker: { detailed: async () => reportWith({}) }, tracker, thresholds });
    expect(tracker.calls.map((call) => [call.key, call.active])).toEqual([
      ['health:database:main', false],
      ['health:redis', false],
      ['health:disk', false],
      ['health:workers', false],
      ['health:queue:backups', false],
    ]);
  });

  it('raises the matching alerts and levels', async () => {
    const tracker = recordingTracker();
    const report = reportWith({
      database: { status: 'unhealthy', targets: { main: { status: 'unhealthy', error: 'ECONNREFUSED' } } },
      redis: { status: 'unhealthy', error: 'timeout' },
      disk: { status: 'unhealthy', usage_percent: 95.5, free_gb: 1, path: '/spool' },
      workers: { status: 'unhealthy', active_workers: 0, queues: { backups: 0 } },
      queues: {
        status: 'degraded',
        backups: { status: 'degraded', waiting: 90, delayed: 300, overdue: 20, oldest_waiting_age_s: 30 },
      },
      backups: { status: 'degraded', targets: { main: { status: 'degraded', age_s: 100_000 } } },
    });
    await runProbeCycle({ checker: { detailed: async () => report }, tracker, thresholds });
    const byKey = Object.fromEntries(tracker.calls.map((call) => [call.key, call]));
    expect(Object.values(byKey).every((call) => call.active)).toBe(true);
    expect(byKey['health:database:main']?.alert).toMatchObject({ level: 'error', text: 'ECONNREFUSED' });
    expect(byKey['health:disk']?.alert).toMatchObject({
      key: 'health:disk:critical',
      level: 'error',
      title: 'Disk usage critical: 95.5 % (above 90 %)',
    });
    expect(byKey['health:workers']?.alert).toMatchObject({
      key: 'health:workers:none',
      title: 'No worker running',
    });
    expect(byKey['health:queue:backups']?.alert.title).toBe(
      'Queue backups has 110 jobs waiting (threshold 100)',
    );
    expect(byKey['health:backup:main']?.alert.level).toBe('error');
    expect(byKey['health:backup:main']?.group?.key).toBe('health:backup');
    expect(byKey['health:database:main']).toMatchObject({
      subject: 'main',
      group: { key: 'health:database' },
    });
  });

  it('neither raises nor resolves the worker alert while workers may still be starting', async () => {
    const tracker = recordingTracker();
    const report = reportWith({
      workers: { status: 'degraded', starting: true, active_workers: 0, queues: { backups: 0 } },
    });
    await runProbeCycle({ checker: { detailed: async () => report }, tracker, thresholds });
    expect(tracker.calls.find((call) => call.key === 'health:workers')).toBeUndefined();
    expect(tracker.calls.length).toBeGreaterThan(0);
  });

  it("does not count a scheduler's future runs (delayed, not overdue) as a backlog", async () => {
    const tracker = recordingTracker();
    const report = reportWith({
      queues: { status: 'healthy', backups: { status: 'healthy', waiting: 0, delayed: 500, overdue: 0 } },
    });
    await runProbeCycle({ checker: { detailed: async () => report }, tracker, thresholds });
    expect(tracker.calls.find((call) => call.key === 'health:queue:backups')?.active).toBe(false);
  });

  it('uses the warning key between the two disk thresholds', async () => {
    const tracker = recordingTracker();
    const report = reportWith({
      disk: { status: 'degraded', usage_percent: 85, free_gb: 3, path: '/spool' },
    });
    await runProbeCycle({ checker: { detailed: async () => report }, tracker, thresholds });
    expect(tracker.calls.find((call) => call.key === 'health:disk')?.alert).toMatchObject({
      key: 'health:disk:warning',
      level: 'warning',
      title: 'Disk usage high: 85.0 % (above 80 %)',
    });
  });

  it('updates the metrics and keeps going when the tracker fails', async () => {
    const probeStatus = recordingGauge();
    const queueJobs = recordingGauge();
    const workersActive = recordingGauge();
    const diskUsageRatio = recordingGauge();
    const errors: string[] = [];
    const report = await runProbeCycle({
      checker: { detailed: async () => reportWith({ redis: { status: 'unhealthy' } }) },
      tracker: {
        reportCycle: async () => {
          throw new Error('redis down');
        },
      },
      metrics: { probeStatus, queueJobs, workersActive, diskUsageRatio },
      thresholds,
      logger: { warn() {}, error: (_obj, msg) => errors.push(msg ?? '') },
    });
    expect(report.services.redis?.status).toBe('unhealthy');
    expect(probeStatus.values.get('{"probe":"redis"}')).toBe(2);
    expect(probeStatus.values.get('{"probe":"disk"}')).toBe(0);
    expect(queueJobs.values.get('{"queue":"backups","state":"waiting"}')).toBe(1);
    expect(queueJobs.values.get('{"queue":"backups","state":"failed"}')).toBe(2);
    expect(workersActive.values.get('{"queue":"backups"}')).toBe(1);
    expect(diskUsageRatio.values.get('{"path":"/spool"}')).toBe(0.4);
    expect(errors).toEqual(['reporting the health conditions failed']);
  });
});
