import { targetActions } from './actions.js';
import { type Fleet, type FleetRow, getJson } from './api.js';
import { h, replaceChildren } from './dom.js';
import { formatBytes, formatDuration } from './format.js';
import { statusBadge, timeAgo } from './status.js';
import { sizeTrend } from './trend.js';

const REFRESH_MS = 15_000;

export interface ViewOptions {
  readOnly: boolean;
}

export function targetHref(name: string): string {
  return `/console/targets/${encodeURIComponent(name)}`;
}

function jobCell(row: FleetRow): Node {
  if (!row.job) return h('span', { class: 'muted' }, 'idle');
  const { kind, state, phase, percent } = row.job;
  const bar = h('progress', { max: 100, 'aria-label': `${row.name} ${kind} progress` });
  if (percent !== null) bar.value = percent;
  return h(
    'span',
    { class: 'job' },
    `${kind} ${state}${phase ? `: ${phase}` : ''}${percent === null ? '' : ` ${Math.round(percent)} %`}`,
    state === 'active' ? bar : null,
  );
}

/** One cell; its content sits in one box, so the phone layout pairs it with its column label. */
export function cell(
  tag: 'th' | 'td',
  label: string,
  ...content: (Node | string | null)[]
): HTMLTableCellElement {
  return h(
    tag,
    tag === 'th' ? { scope: 'row', 'data-label': label } : { 'data-label': label },
    h('div', { class: 'cell' }, ...content),
  );
}

/** The cells that change with the data; the actions cell is kept, so focus and live status survive a refresh. */
function dataCells(row: FleetRow, now: number): HTMLTableCellElement[] {
  const last = row.lastBackup;
  return [
    cell(
      'th',
      'Target',
      h('a', { href: targetHref(row.name), class: 'target-link' }, row.name),
      h('span', { class: 'sub' }, `${row.environment} · ${row.database}${row.enabled ? '' : ' · disabled'}`),
    ),
    cell(
      'td',
      'Status',
      statusBadge(row.status),
      row.reasons.length > 0
        ? h('ul', { class: 'reasons' }, ...row.reasons.map((reason) => h('li', {}, reason)))
        : null,
    ),
    cell(
      'td',
      'Last good backup',
      last
        ? h(
            'span',
            { class: 'last-backup' },
            timeAgo(last.finished_at, now),
            h('span', { class: 'sub' }, `${formatBytes(last.bytes)} in ${formatDuration(last.duration_ms)}`),
            h('span', { class: 'sub file' }, last.filename),
          )
        : h('span', { class: 'muted' }, 'none'),
    ),
    cell('td', 'Size trend', sizeTrend(row.trend, `Size trend of ${row.name}`)),
    cell(
      'td',
      'Restore test',
      row.restoreTest
        ? h('span', {}, statusBadge(row.restoreTest.status), ' ', timeAgo(row.restoreTest.at, now))
        : h('span', { class: 'muted' }, 'never'),
    ),
    h(
      'td',
      { 'data-label': 'Next run' },
      row.enabled ? timeAgo(row.nextRun, now) : h('span', { class: 'muted' }, 'disabled'),
    ),
    cell('td', 'Job', jobCell(row)),
  ];
}

/** The fleet overview: problems first, filter by name, one row per target, refreshed in place. */
export function renderOverview(main: HTMLElement, options: ViewOptions): void {
  const summary = h('p', { class: 'summary', 'aria-live': 'polite' }, 'Loading targets…');
  const filter = h('input', {
    id: 'filter',
    type: 'search',
    placeholder: 'name contains…',
    autocomplete: 'off',
    spellcheck: 'false',
  });
  const problemsOnly = h('input', { id: 'problems-only', type: 'checkbox' });
  const tbody = h('tbody');
  const table = h(
    'table',
    { class: 'fleet' },
    h('caption', { class: 'visually-hidden' }, 'Backup targets, problems first'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ...[
          'Target',
          'Status',
          'Last good backup',
          'Size trend',
          'Restore test',
          'Next run',
          'Job',
          'Actions',
        ].map((name) => h('th', { scope: 'col' }, name)),
      ),
    ),
    tbody,
  );
  replaceChildren(
    main,
    h('h2', { id: 'fleet-heading' }, 'Fleet'),
    summary,
    h(
      'div',
      { class: 'controls', role: 'search' },
      h('label', { for: 'filter' }, 'Filter by name'),
      filter,
      h('label', { class: 'check' }, problemsOnly, ' Problems only'),
    ),
    h('div', { class: 'table-wrap' }, table),
  );

  const rows = new Map<string, { tr: HTMLTableRowElement; data: FleetRow }>();
  let fleet: Fleet | undefined;

  const applyFilter = () => {
    const needle = filter.value.trim().toLowerCase();
    let shown = 0;
    for (const { tr, data } of rows.values()) {
      const visible =
        data.name.toLowerCase().includes(needle) && (!problemsOnly.checked || data.status !== 'healthy');
      tr.hidden = !visible;
      if (visible) shown += 1;
    }
    if (fleet) {
      const { failing, degraded, healthy } = fleet.counts;
      summary.textContent = `${fleet.targets.length} ${fleet.targets.length === 1 ? 'target' : 'targets'}: ${failing} failing, ${degraded} degraded, ${healthy} healthy. Showing ${shown}.`;
    }
  };
  filter.addEventListener('input', applyFilter);
  problemsOnly.addEventListener('change', applyFilter);

  const load = async () => {
    try {
      fleet = await getJson<Fleet>('/api/admin/fleet');
    } catch (error) {
      summary.textContent = `Could not load the fleet: ${error instanceof Error ? error.message : String(error)}`;
      return;
    }
    const now = Date.now();
    const seen = new Set<string>();
    let previous: HTMLTableRowElement | null = null;
    for (const data of fleet.targets) {
      seen.add(data.name);
      let entry = rows.get(data.name);
      if (!entry) {
        const tr = h('tr', { 'data-target': data.name });
        const actions = h(
          'td',
          { 'data-label': 'Actions', class: 'actions-cell' },
          targetActions(data.name, {
            readOnly: options.readOnly,
            onJobEnded: () => void load(),
          }),
        );
        tr.append(...dataCells(data, now), actions);
        entry = { tr, data };
        rows.set(data.name, entry);
      } else {
        const actions = entry.tr.lastElementChild;
        entry.tr.replaceChildren(...dataCells(data, now));
        if (actions) entry.tr.append(actions);
        entry.data = data;
      }
      entry.tr.dataset.status = data.status;
      // Move a row only when the order changed: moving a focused button would drop its focus.
      const expectedPosition: ChildNode | null = previous ? previous.nextSibling : tbody.firstChild;
      if (expectedPosition !== entry.tr) tbody.insertBefore(entry.tr, expectedPosition);
      previous = entry.tr;
    }
    for (const [name, entry] of rows) {
      if (!seen.has(name)) {
        entry.tr.remove();
        rows.delete(name);
      }
    }
    applyFilter();
  };

  void load();
  setInterval(() => {
    if (document.visibilityState === 'visible') void load();
  }, REFRESH_MS);
}
