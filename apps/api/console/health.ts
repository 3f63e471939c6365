import { getJson } from './api.js';
import { h, replaceChildren } from './dom.js';
import { formatAbsolute } from './format.js';
import { statusBadge, timeAgo } from './status.js';

const REFRESH_MS = 30_000;

interface HealthReport {
  status: string;
  timestamp: number;
  services: Record<string, Record<string, unknown> & { status?: string; error?: string }>;
}

interface AlertRecord {
  at: string;
  level: string;
  title: string;
  text?: string;
  outcome: string;
}

const LEVEL_SYMBOL: Record<string, string> = { error: '✖', warning: '▲', info: 'ℹ', success: '✔' };

/** `response_time_ms: 5.23` → `response time: 5 ms`; `checked_at` → an absolute time. */
function fact(name: string, value: unknown): string {
  const words = name.replace(/_(ms|percent|gb|s|at)$/, '').replaceAll('_', ' ');
  if (typeof value === 'number') {
    if (name.endsWith('_ms')) return `${words}: ${Math.round(value)} ms`;
    if (name.endsWith('_percent')) return `${words}: ${value.toFixed(1)} %`;
    if (name.endsWith('_gb')) return `${words}: ${value.toFixed(1)} GB`;
    if (name.endsWith('_s')) return `${words}: ${Math.round(value)} s`;
  }
  if (typeof value === 'string' && name.endsWith('_at') && !Number.isNaN(Date.parse(value))) {
    return `${words}: ${formatAbsolute(value)}`;
  }
  return `${name.replaceAll('_', ' ')}: ${String(value)}`;
}

/** Scalar facts of a service (response time, usage, counts); nested objects become "a: 1, b: 2". */
function facts(service: Record<string, unknown>): string[] {
  const lines: string[] = [];
  for (const [name, value] of Object.entries(service)) {
    if (name === 'status') continue;
    if (value === null || value === undefined) continue;
    if (typeof value === 'object') {
      const parts = Object.entries(value as Record<string, unknown>).map(([key, inner]) =>
        typeof inner === 'object' && inner !== null
          ? `${key}: ${String((inner as { status?: unknown }).status ?? JSON.stringify(inner))}`
          : fact(key, inner),
      );
      lines.push(`${name.replaceAll('_', ' ')} — ${parts.join(', ')}`);
    } else {
      lines.push(fact(name, value));
    }
  }
  return lines;
}

/** `/health/detailed` rendered, the recent alerts, and the links to the other admin tools. */
export function renderHealthPanel(container: HTMLElement): void {
  const services = h('div', { class: 'services' }, h('p', {}, 'Loading health…'));
  const alerts = h('div', { class: 'alerts' }, h('p', {}, 'Loading alerts…'));
  replaceChildren(
    container,
    h('h2', { id: 'health-heading' }, 'Health'),
    services,
    h('h3', {}, 'Recent alerts'),
    alerts,
    h(
      'nav',
      { 'aria-label': 'Admin tools', class: 'tools' },
      h('a', { href: '/admin/queues' }, 'Bull Board (queues)'),
      h('a', { href: '/docs' }, 'API docs (OpenAPI)'),
      h('a', { href: '/metrics' }, 'Prometheus metrics'),
      h('a', { href: '/health/detailed' }, 'Health JSON'),
    ),
  );

  const load = async () => {
    const now = Date.now();
    try {
      const report = await getJson<HealthReport>('/health/detailed');
      replaceChildren(
        services,
        h(
          'p',
          { class: 'overall' },
          'Overall: ',
          statusBadge(report.status),
          ' ',
          timeAgo(new Date(report.timestamp * 1000).toISOString(), now),
        ),
        h(
          'ul',
          { class: 'service-list' },
          ...Object.entries(report.services).map(([name, service]) =>
            h(
              'li',
              {},
              h('span', { class: 'service-name' }, name),
              ' ',
              statusBadge(String(service.status ?? 'unknown')),
              h('ul', { class: 'facts' }, ...facts(service).map((line) => h('li', {}, line))),
            ),
          ),
        ),
      );
    } catch (error) {
      replaceChildren(
        services,
        h('p', {}, `Health check unavailable: ${error instanceof Error ? error.message : String(error)}`),
      );
    }
    try {
      const { alerts: recent } = await getJson<{ alerts: AlertRecord[] }>('/api/admin/alerts?limit=10');
      replaceChildren(
        alerts,
        recent.length === 0
          ? h('p', { class: 'muted' }, 'No alerts recorded.')
          : h(
              'ol',
              { class: 'alert-list' },
              ...recent.map((alert) =>
                h(
                  'li',
                  { class: `alert alert-${alert.level}` },
                  h('span', { class: 'alert-level' }, `${LEVEL_SYMBOL[alert.level] ?? '•'} ${alert.level}`),
                  ' ',
                  h('strong', {}, alert.title),
                  ' ',
                  timeAgo(alert.at, now),
                  h(
                    'span',
                    { class: 'sub' },
                    alert.outcome === 'sent'
                      ? 'sent to Slack'
                      : alert.outcome === 'logged'
                        ? 'logged (no Slack webhook)'
                        : 'Slack delivery failed',
                  ),
                  alert.text ? h('span', { class: 'sub alert-text' }, alert.text) : null,
                ),
              ),
            ),
      );
    } catch (error) {
      replaceChildren(
        alerts,
        h('p', {}, `Alerts unavailable: ${error instanceof Error ? error.message : String(error)}`),
      );
    }
  };
  void load();
  setInterval(() => {
    if (document.visibilityState === 'visible') void load();
  }, REFRESH_MS);
}
