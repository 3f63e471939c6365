import { ApiFailure, getJson, type JobState, postJson } from './api.js';
import { h, replaceChildren } from './dom.js';
import { formatBytes } from './format.js';

const POLL_MS = 1000;
/** A job not seen for this long (removed, or the API unreachable) stops being followed. */
const GIVE_UP_MS = 6 * 3600 * 1000;

export type JobKind = 'backup' | 'restore' | 'restore-test';

const KIND_LABEL: Record<JobKind, string> = {
  backup: 'Backup',
  restore: 'Restore',
  'restore-test': 'Restore test',
};

function progressOf(job: JobState): { phase: string | null; percent: number | null; bytes: number | null } {
  const progress = job.progress as
    | { phase?: unknown; percent?: unknown; bytes?: unknown }
    | number
    | undefined;
  if (typeof progress === 'number') return { phase: null, percent: progress, bytes: null };
  return {
    phase: typeof progress?.phase === 'string' ? progress.phase : null,
    percent: typeof progress?.percent === 'number' ? progress.percent : null,
    bytes: typeof progress?.bytes === 'number' ? progress.bytes : null,
  };
}

/** What a finished job produced, in words (and the file name, which the operator looks for). */
function describeResult(kind: JobKind, job: JobState): Node[] {
  const result = (job.result ?? {}) as Record<string, unknown>;
  const file =
    typeof result.filename === 'string'
      ? result.filename
      : typeof result.file === 'string'
        ? result.file
        : '';
  if (kind === 'backup') {
    return [
      '✔ Backup stored: ',
      h('code', { class: 'result-file' }, file),
      typeof result.bytes === 'number' ? ` (${formatBytes(result.bytes)})` : '',
    ].map(toNode);
  }
  if (kind === 'restore-test') {
    return [
      `✔ Restore test ${String(result.status ?? 'passed')}: `,
      h('code', { class: 'result-file' }, file),
    ].map(toNode);
  }
  const database = typeof result.database === 'string' ? result.database : '';
  const dryRun = result.status === 'dry-run' || result.dryRun === true;
  return [
    dryRun ? '✔ Dry run passed for ' : '✔ Restored ',
    h('code', { class: 'result-file' }, file),
    dryRun ? '' : ' into ',
    dryRun ? '' : h('code', {}, database),
  ].map(toNode);
}

function toNode(part: Node | string): Node {
  return typeof part === 'string' ? document.createTextNode(part) : part;
}

/** Shows a job's phase and progress in `status` until it ends, then its result. Resolves with the job. */
export async function followJob(
  jobId: string,
  kind: JobKind,
  status: HTMLElement,
): Promise<JobState | undefined> {
  const label = KIND_LABEL[kind];
  const started = Date.now();
  status.dataset.state = 'running';
  replaceChildren(status, `${label} queued…`);
  for (;;) {
    let job: JobState;
    try {
      job = await getJson<JobState>(`/api/admin/jobs/${encodeURIComponent(jobId)}`);
    } catch (error) {
      if (Date.now() - started > GIVE_UP_MS || (error instanceof ApiFailure && error.status === 404)) {
        status.dataset.state = 'failed';
        replaceChildren(status, `✖ ${label}: ${error instanceof Error ? error.message : String(error)}`);
        return undefined;
      }
      await sleep(POLL_MS * 3);
      continue;
    }
    if (job.state === 'completed') {
      status.dataset.state = 'done';
      replaceChildren(status, ...describeResult(kind, job));
      return job;
    }
    if (job.state === 'failed') {
      status.dataset.state = 'failed';
      replaceChildren(status, `✖ ${label} failed: ${job.failedReason ?? 'no reason given'}`);
      return job;
    }
    const { phase, percent, bytes } = progressOf(job);
    const words = `${label} ${job.state}${phase ? `: ${phase}` : ''}${percent === null ? '' : ` ${Math.round(percent)} %`}${bytes ? `, ${formatBytes(bytes)}` : ''}`;
    const bar = h('progress', { max: 100, 'aria-label': `${label} progress` });
    if (percent !== null) bar.value = Math.max(0, Math.min(100, percent));
    replaceChildren(status, h('span', { class: 'job-words' }, words), bar);
    await sleep(POLL_MS);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface ActionsOptions {
  readOnly: boolean;
  /** Called when a job the buttons started has ended (to refresh the surrounding view). */
  onJobEnded: () => void;
}

/** Starts a job with `start`, then follows it in `status`; the button stays disabled meanwhile. */
export async function runAction(
  button: HTMLButtonElement,
  status: HTMLElement,
  kind: JobKind,
  start: () => Promise<{ jobId: string }>,
  onJobEnded: () => void,
): Promise<void> {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    const { jobId } = await start();
    await followJob(jobId, kind, status);
    onJobEnded();
  } catch (error) {
    status.dataset.state = 'failed';
    replaceChildren(
      status,
      `✖ ${KIND_LABEL[kind]} not started: ${error instanceof Error ? error.message : String(error)}`,
    );
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

/** "Back up now" and "Test restore now" for one target, with a live status line below them. */
export function targetActions(target: string, options: ActionsOptions): HTMLElement {
  const status = h('div', { class: 'job-status', role: 'status', 'aria-live': 'polite' });
  const disabledNote = options.readOnly ? 'read-only-note' : undefined;
  const backup = h(
    'button',
    {
      type: 'button',
      class: 'action',
      'data-action': 'backup',
      disabled: options.readOnly,
      'aria-describedby': disabledNote,
    },
    'Back up now',
  );
  const test = h(
    'button',
    {
      type: 'button',
      class: 'action',
      'data-action': 'restore-test',
      disabled: options.readOnly,
      'aria-describedby': disabledNote,
    },
    'Test restore now',
  );
  // Button names repeat on every row; the row's target is part of what a screen reader announces.
  backup.setAttribute('aria-label', `Back up now: ${target}`);
  test.setAttribute('aria-label', `Test restore now: ${target}`);
  backup.addEventListener('click', () =>
    runAction(
      backup,
      status,
      'backup',
      () => postJson('/api/admin/backup', { target, reason: 'console' }),
      options.onJobEnded,
    ),
  );
  test.addEventListener('click', () =>
    runAction(
      test,
      status,
      'restore-test',
      () => postJson('/api/admin/restore-tests', { target }),
      options.onJobEnded,
    ),
  );
  return h('div', { class: 'actions' }, h('div', { class: 'buttons' }, backup, test), status);
}
