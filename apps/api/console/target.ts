import { runAction, targetActions } from './actions.js';
import { type BackupSummary, type Fleet, type FleetRow, getJson, postJson } from './api.js';
import { h, replaceChildren } from './dom.js';
import { formatBytes, formatDuration } from './format.js';
import { cell as cellOf, type ViewOptions } from './overview.js';
import { statusBadge, timeAgo } from './status.js';

const PAGE_SIZE = 20;

interface TargetInfo {
  name: string;
  retentionDays: number;
  keepLast: number;
  schedule: string;
  timezone: string;
}

interface Schedule {
  id: string;
  jobName: string;
  pattern: string | null;
  timezone: string | null;
  next: string | null;
  target: string | null;
}

interface RetentionOutcome {
  removed: string[];
  kept: { filename: string; reasons: string[] }[];
}

function downloadHref(target: string, file: string): string {
  return `/api/admin/backups/${encodeURIComponent(target)}/${encodeURIComponent(file)}/download`;
}

function definitionList(entries: [string, Node | string][]): HTMLElement {
  return h(
    'dl',
    { class: 'facts-list' },
    ...entries.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]),
  );
}

/** One target: status, actions, restore form, schedule and retention, and its backups page by page. */
export function renderTarget(main: HTMLElement, name: string, options: ViewOptions): void {
  document.title = `${name} · Warden console`;
  const header = h('div', { class: 'target-header' }, h('p', {}, 'Loading…'));
  const settings = h(
    'section',
    { 'aria-labelledby': 'settings-heading', class: 'panel' },
    h('h2', { id: 'settings-heading' }, 'Schedule and retention'),
  );
  const backups = h(
    'section',
    { 'aria-labelledby': 'backups-heading', class: 'panel' },
    h('h2', { id: 'backups-heading' }, 'Backups'),
  );
  const restore = h(
    'section',
    { 'aria-labelledby': 'restore-heading', class: 'panel' },
    h('h2', { id: 'restore-heading' }, 'Restore'),
  );
  replaceChildren(
    main,
    h('p', { class: 'breadcrumb' }, h('a', { href: '/' }, '← All targets')),
    h('h2', { class: 'target-title' }, name),
    header,
    backups,
    restore,
    settings,
  );

  const files = new Set<string>();
  const fileSelect = h(
    'select',
    { id: 'restore-file', name: 'file' },
    h('option', { value: 'latest' }, 'The newest backup'),
  );

  const loadHeader = async () => {
    try {
      const fleet = await getJson<Fleet>(`/api/admin/fleet?target=${encodeURIComponent(name)}`);
      const row: FleetRow | undefined = fleet.targets[0];
      if (!row) throw new Error(`no target "${name}"`);
      const now = Date.now();
      replaceChildren(
        header,
        h(
          'p',
          { class: 'target-status' },
          statusBadge(row.status),
          ' ',
          `${row.environment} · database ${row.database}`,
        ),
        row.reasons.length > 0
          ? h('ul', { class: 'reasons' }, ...row.reasons.map((reason) => h('li', {}, reason)))
          : null,
        definitionList([
          ['Last good backup', row.lastBackup ? timeAgo(row.lastBackup.finished_at, now) : 'none'],
          [
            'Last restore test',
            row.restoreTest
              ? h('span', {}, statusBadge(row.restoreTest.status), ' ', timeAgo(row.restoreTest.at, now))
              : 'never',
          ],
          ['Next backup', timeAgo(row.nextRun, now)],
        ]),
        targetActions(name, { readOnly: options.readOnly, onJobEnded: () => void refresh() }),
      );
    } catch (error) {
      replaceChildren(
        header,
        h(
          'p',
          { role: 'alert' },
          `Could not load target: ${error instanceof Error ? error.message : String(error)}`,
        ),
      );
    }
  };

  const loadSettings = async () => {
    const body = h('div', {}, h('p', {}, 'Loading…'));
    replaceChildren(settings, h('h2', { id: 'settings-heading' }, 'Schedule and retention'), body);
    try {
      const [{ targets }, { schedules }, retention] = await Promise.all([
        getJson<{ targets: TargetInfo[] }>('/api/admin/targets'),
        getJson<{ schedules: Schedule[] }>('/api/admin/schedules'),
        getJson<{ targets: RetentionOutcome[] }>(`/api/admin/retention?target=${encodeURIComponent(name)}`),
      ]);
      const info = targets.find((target) => target.name === name);
      const now = Date.now();
      const mine = schedules.filter((schedule) => schedule.target === name);
      const backup = mine.find((schedule) => schedule.jobName === 'backup.create');
      const restoreTest = mine.find((schedule) => schedule.jobName === 'restore.verify');
      const removed = retention.targets[0]?.removed ?? [];
      replaceChildren(
        body,
        definitionList([
          [
            'Backup schedule',
            backup
              ? `${backup.pattern ?? '?'} (${backup.timezone ?? 'UTC'})`
              : info
                ? `${info.schedule} (not scheduled)`
                : '–',
          ],
          ['Next backup', backup ? timeAgo(backup.next, now) : 'not scheduled'],
          [
            'Restore test schedule',
            restoreTest ? `${restoreTest.pattern ?? '?'} (${restoreTest.timezone ?? 'UTC'})` : 'off',
          ],
          ['Next restore test', restoreTest ? timeAgo(restoreTest.next, now) : '–'],
          ['Retention', info ? `${info.retentionDays} days, at least the newest ${info.keepLast} kept` : '–'],
        ]),
        h('h3', {}, 'Retention would delete next'),
        removed.length === 0
          ? h('p', { class: 'muted' }, 'Nothing: every backup is within retention.')
          : h('ul', { class: 'would-delete' }, ...removed.map((file) => h('li', {}, h('code', {}, file)))),
      );
    } catch (error) {
      replaceChildren(
        body,
        h(
          'p',
          { role: 'alert' },
          `Could not load: ${error instanceof Error ? error.message : String(error)}`,
        ),
      );
    }
  };

  // Cursors of the pages seen so far: [undefined] is the newest page.
  const cursors: (string | undefined)[] = [undefined];
  let page = 0;
  const loadBackups = async () => {
    const body = h('div', {}, h('p', {}, 'Loading…'));
    replaceChildren(backups, h('h2', { id: 'backups-heading' }, 'Backups'), body);
    try {
      const before = cursors[page];
      const query = `target=${encodeURIComponent(name)}&limit=${PAGE_SIZE}${before ? `&before=${encodeURIComponent(before)}` : ''}`;
      const listing = await getJson<{ backups: BackupSummary[]; nextBefore: string | null }>(
        `/api/admin/backups?${query}`,
      );
      const now = Date.now();
      for (const backup of listing.backups) {
        if (files.has(backup.filename)) continue;
        files.add(backup.filename);
        fileSelect.append(h('option', { value: backup.filename }, backup.filename));
      }
      const columns = ['File', 'Finished', 'Size', 'Duration', 'SHA-256', 'Restore test'];
      if (!options.readOnly) columns.push('Download');
      const table = h(
        'table',
        { class: 'backups' },
        h('caption', { class: 'visually-hidden' }, `Backups of ${name}, newest first`),
        h('thead', {}, h('tr', {}, ...columns.map((column) => h('th', { scope: 'col' }, column)))),
        h(
          'tbody',
          {},
          ...listing.backups.map((backup) =>
            h(
              'tr',
              {},
              cellOf('th', 'File', h('code', {}, backup.filename)),
              cellOf('td', 'Finished', timeAgo(backup.finished_at, now)),
              cellOf('td', 'Size', formatBytes(backup.bytes)),
              cellOf('td', 'Duration', formatDuration(backup.duration_ms)),
              cellOf('td', 'SHA-256', h('code', { class: 'sha' }, backup.sha256)),
              cellOf(
                'td',
                'Restore test',
                backup.verification
                  ? h(
                      'span',
                      {},
                      statusBadge(backup.verification.status),
                      ' ',
                      timeAgo(backup.verification.at, now),
                    )
                  : h('span', { class: 'muted' }, 'not tested'),
              ),
              options.readOnly
                ? null
                : cellOf(
                    'td',
                    'Download',
                    h(
                      'a',
                      { href: downloadHref(name, backup.filename), download: backup.filename },
                      'Download',
                      h('span', { class: 'visually-hidden' }, ` ${backup.filename}`),
                    ),
                  ),
            ),
          ),
        ),
      );
      const newer = h('button', { type: 'button', disabled: page === 0 }, '← Newer');
      const older = h('button', { type: 'button', disabled: listing.nextBefore === null }, 'Older →');
      newer.addEventListener('click', () => {
        page -= 1;
        void loadBackups();
      });
      older.addEventListener('click', () => {
        cursors[page + 1] = listing.nextBefore ?? undefined;
        page += 1;
        void loadBackups();
      });
      replaceChildren(
        body,
        listing.backups.length === 0
          ? h('p', { class: 'muted' }, 'No backups yet.')
          : h('div', { class: 'table-wrap' }, table),
        h(
          'nav',
          { class: 'pager', 'aria-label': 'Backup pages' },
          newer,
          h('span', {}, `Page ${page + 1}`),
          older,
        ),
      );
    } catch (error) {
      replaceChildren(
        body,
        h(
          'p',
          { role: 'alert' },
          `Could not load backups: ${error instanceof Error ? error.message : String(error)}`,
        ),
      );
    }
  };

  replaceChildren(
    restore,
    h('h2', { id: 'restore-heading' }, 'Restore'),
    restoreForm(name, fileSelect, options, () => void refresh()),
  );

  const refresh = async () => {
    await Promise.all([loadHeader(), loadSettings(), loadBackups()]);
  };
  void refresh();
}

/**
 * Dry run (the default), into a new database, or over an existing one — the last only after typing
 * that database's name a second time.
 */
function restoreForm(
  target: string,
  fileSelect: HTMLSelectElement,
  options: ViewOptions,
  onEnded: () => void,
): HTMLElement {
  const mode = (value: string, label: string, hint: string, checked = false) =>
    h(
      'div',
      { class: 'radio' },
      h('input', {
        type: 'radio',
        name: 'mode',
        id: `mode-${value}`,
        value,
        checked,
        'aria-describedby': `mode-${value}-hint`,
      }),
      h('label', { for: `mode-${value}` }, label),
      h('span', { class: 'hint', id: `mode-${value}-hint` }, hint),
    );
  const database = h('input', {
    id: 'restore-database',
    name: 'database',
    type: 'text',
    autocomplete: 'off',
    spellcheck: 'false',
    'aria-describedby': 'restore-database-hint',
  });
  const confirm = h('input', {
    id: 'restore-confirm',
    name: 'confirm',
    type: 'text',
    autocomplete: 'off',
    spellcheck: 'false',
  });
  const confirmRow = h(
    'div',
    { class: 'field', hidden: true },
    h('label', { for: 'restore-confirm' }, 'Type the database name again to confirm overwriting it'),
    confirm,
  );
  const problem = h('p', { class: 'form-problem', role: 'alert' });
  const status = h('div', { class: 'job-status', role: 'status', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'action' }, 'Start restore');
  const fieldset = h(
    'fieldset',
    { disabled: options.readOnly },
    h('legend', {}, `Restore a backup of ${target}`),
    h('div', { class: 'field' }, h('label', { for: 'restore-file' }, 'Backup'), fileSelect),
    h(
      'fieldset',
      { class: 'modes' },
      h('legend', {}, 'Where to'),
      mode('dry-run', 'Dry run', 'download and check size, SHA-256 and integrity, write nothing', true),
      mode('new', 'Into a new database', 'the name below, or a new <database>_restore_<time> when empty'),
      mode('overwrite', 'Over an existing database', 'a safety backup of it is taken first'),
    ),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'restore-database' }, 'Database name'),
      database,
      h(
        'span',
        { class: 'hint', id: 'restore-database-hint' },
        'Optional for a new database; required to overwrite.',
      ),
    ),
    confirmRow,
    problem,
    submit,
  );
  const form = h('form', { class: 'restore-form', novalidate: true }, fieldset, status);
  const selectedMode = () =>
    form.querySelector<HTMLInputElement>('input[name="mode"]:checked')?.value ?? 'dry-run';
  form.addEventListener('change', () => {
    confirmRow.hidden = selectedMode() !== 'overwrite';
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    problem.textContent = '';
    const chosen = selectedMode();
    const name = database.value.trim();
    const body: Record<string, unknown> = { target, file: fileSelect.value };
    if (chosen === 'dry-run') body.dryRun = true;
    if (chosen !== 'dry-run' && name !== '') body.database = name;
    if (chosen === 'overwrite') {
      if (name === '') {
        problem.textContent = 'Name the database to overwrite.';
        database.focus();
        return;
      }
      if (confirm.value.trim() !== name) {
        problem.textContent = `Type "${name}" in the confirmation field to overwrite it.`;
        confirm.focus();
        return;
      }
      body.overwrite = true;
    }
    void runAction(submit, status, 'restore', () => postJson('/api/admin/backup/restore', body), onEnded);
  });
  return form;
}
