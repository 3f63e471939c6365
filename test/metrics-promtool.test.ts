import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createMetrics, startMetricsServer } from '@warden/metrics';
import { afterAll, describe, expect, it } from 'vitest';

const PROMETHEUS_DIR = resolve(import.meta.dirname, '../deploy/prometheus');
const DASHBOARD = resolve(import.meta.dirname, '../deploy/grafana/dashboards/warden.json');

function promtoolPath(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}
const promtool = promtoolPath();
if (!promtool) {
  console.warn(
    'metrics-promtool: promtool is not on PATH (apt-get install prometheus); promtool checks skipped',
  );
}

function run(args: string[], input?: string) {
  return spawnSync(promtool as string, args, { encoding: 'utf8', input, cwd: PROMETHEUS_DIR });
}

/** A registry with every Warden metric given at least one series, plus Node's default metrics. */
async function populatedExposition(prefix = 'warden_'): Promise<string> {
  const metrics = createMetrics({ prefix, defaultLabels: { service: 'test' } });
  const http = { method: 'GET', route: '/health', status_code: 200 };
  metrics.httpRequestsTotal.inc(http);
  metrics.httpRequestDurationSeconds.observe(http, 0.012);
  metrics.backupLastSuccessTimestamp.set({ target: 'main' }, 1_705_305_600);
  metrics.backupDurationSeconds.set({ target: 'main' }, 12.5);
  metrics.backupSizeBytes.set({ target: 'main' }, 85_600_000);
  metrics.backupFailuresTotal.inc({ target: 'main', reason: 'upload' });
  metrics.backupUploadRetriesTotal.inc({ target: 'main' });
  metrics.lastVerifiedRestoreTimestamp.set({ target: 'main' }, 1_705_305_600);
  metrics.restoreVerificationsTotal.inc({ target: 'main', result: 'success' });
  metrics.queueJobs.set({ queue: 'backups', state: 'waiting' }, 3);
  metrics.queueJobs.set({ queue: 'backups', state: 'backlog' }, 3);
  metrics.queueOldestWaitingSeconds.set({ queue: 'backups' }, 12);
  metrics.backupDeadlineTimestamp.set({ target: 'main' }, 1_705_392_000);
  metrics.probeStatus.set({ probe: 'disk' }, 1);
  metrics.workersActive.set({ queue: 'backups' }, 2);
  metrics.diskUsageRatio.set({ path: '/var/lib/warden/spool' }, 0.42);
  metrics.notificationsTotal.inc({ channel: 'slack', outcome: 'sent' });
  return metrics.registry.metrics();
}

describe.skipIf(!promtool)('promtool checks (promtool on PATH)', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'warden-promtool-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('passes `promtool check metrics` on the whole /metrics output, default metrics included', async () => {
    const exposition = await populatedExposition();
    // Guard against a vacuous pass: promtool accepts empty input.
    for (const name of [
      'warden_http_requests_total',
      'warden_probe_status',
      'process_cpu_user_seconds_total',
    ]) {
      expect(exposition).toContain(name);
    }
    const result = run(['check', 'metrics'], exposition);
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('really lints: prom-client defaults without our fix are flagged', async () => {
    const { collectDefaultMetrics, Registry } = await import('prom-client');
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const result = run(['check', 'metrics'], await registry.metrics());
    expect(result.stdout + result.stderr).toContain(
      'nodejs_active_handles_total non-counter metrics should not have "_total" suffix',
    );
  });

  it('passes with a custom prefix served by the metrics server', async () => {
    const metrics = createMetrics({ prefix: 'acme_backup_' });
    metrics.probeStatus.set({ probe: 'redis' }, 0);
    const server = await startMetricsServer({ registry: metrics.registry, port: 0 });
    try {
      const body = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
      expect(body).toContain('acme_backup_probe_status{probe="redis"} 0');
      const result = run(['check', 'metrics'], body);
      expect(result.stdout + result.stderr).toBe('');
      expect(result.status).toBe(0);
    } finally {
      await server.close();
    }
  });

  it('accepts the alert rules and the Prometheus config', () => {
    const rules = run(['check', 'rules', 'alerts.yml']);
    expect(rules.status, rules.stdout + rules.stderr).toBe(0);
    expect(rules.stdout).toContain('SUCCESS: 7 rules found');
    const config = run(['check', 'config', 'prometheus.yml']);
    expect(config.status, config.stdout + config.stderr).toBe(0);
  });

  it('passes the alert unit tests', () => {
    const result = run(['test', 'rules', 'alerts.test.yml']);
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain('SUCCESS');
  });

  it('uses only metric names we export, in valid PromQL, in the alerts and the Grafana dashboard', async () => {
    const exposition = await populatedExposition();
    const exported = new Set(
      [...exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name, type]) =>
        type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name as string],
      ),
    );
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
      panels: { targets?: { expr: string }[] }[];
    };
    const expressions = dashboard.panels.flatMap(
      (panel) => panel.targets?.map((target) => target.expr) ?? [],
    );
    expect(expressions.length).toBeGreaterThan(10);
    const alerts = readFileSync(join(PROMETHEUS_DIR, 'alerts.yml'), 'utf8');
    for (const text of [...expressions, alerts]) {
      for (const [name] of text.matchAll(/\bwarden_[a-z_]+/g)) expect(exported, name).toContain(name);
    }
    // promtool has no "check expression": wrap each panel query in a recording rule and check those.
    const file = join(scratch, 'dashboard-rules.yml');
    const rules = expressions.map(
      (expr, index) => `      - record: dashboard:expr_${index}\n        expr: ${JSON.stringify(expr)}`,
    );
    writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join('\n')}\n`);
    const result = run(['check', 'rules', file]);
    expect(result.status, result.stdout + result.stderr).toBe(0);
  });
});

describe('metrics server', () => {
  it('serves /metrics with the exposition content type and 404s elsewhere', async () => {
    const metrics = createMetrics({ prefix: 'warden_', collectDefaultMetrics: false });
    metrics.queueJobs.set({ queue: 'backups', state: 'waiting' }, 4);
    const server = await startMetricsServer({ registry: metrics.registry, port: 0 });
    try {
      const response = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/plain; version=0.0.4');
      expect(await response.text()).toContain('warden_queue_jobs{queue="backups",state="waiting"} 4');
      expect((await fetch(`http://127.0.0.1:${server.port}/nope`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${server.port}/metrics`, { method: 'POST' })).status).toBe(405);
    } finally {
      await server.close();
    }
    await expect(fetch(`http://127.0.0.1:${server.port}/metrics`)).rejects.toThrow();
  });

  it('fails clearly when the port is taken', async () => {
    const metrics = createMetrics({ prefix: 'warden_', collectDefaultMetrics: false });
    const first = await startMetricsServer({ registry: metrics.registry, port: 0 });
    try {
      await expect(startMetricsServer({ registry: metrics.registry, port: first.port })).rejects.toThrow(
        /EADDRINUSE/,
      );
    } finally {
      await first.close();
    }
  });
});
