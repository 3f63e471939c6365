import { h } from './dom.js';
import { formatAbsolute, formatRelative } from './format.js';

/** Status words always come with a symbol and text: colour is never the only signal. */
const SYMBOL: Record<string, string> = {
  healthy: '✔',
  passed: '✔',
  degraded: '▲',
  failing: '✖',
  failed: '✖',
  unhealthy: '✖',
};

export function statusBadge(status: string): HTMLElement {
  return h(
    'span',
    { class: `badge badge-${status}` },
    h('span', { 'aria-hidden': 'true' }, SYMBOL[status] ?? '•'),
    ` ${status}`,
  );
}

/** A relative time with the absolute one beside it, machine-readable in `datetime`. */
export function timeAgo(iso: string | null | undefined, now: number): HTMLElement {
  if (!iso) return h('span', { class: 'muted' }, 'never');
  return h(
    'span',
    { class: 'when' },
    h('span', { class: 'relative' }, formatRelative(iso, now)),
    ' ',
    h('time', { datetime: iso, class: 'absolute' }, formatAbsolute(iso)),
  );
}
