/** Human-readable figures; every relative time is paired with its absolute time in a `<time>`. */

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value >= 100 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** "3 min ago", "in 2 h"; `now` is passed in so one render uses one clock. */
export function formatRelative(iso: string, now: number): string {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return '–';
  const delta = at - now;
  const abs = Math.abs(delta);
  const steps: [number, string][] = [
    [60_000, 's'],
    [3_600_000, 'min'],
    [86_400_000, 'h'],
    [Number.POSITIVE_INFINITY, 'd'],
  ];
  const divisors: Record<string, number> = { s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 };
  const unit = steps.find(([limit]) => abs < limit)?.[1] ?? 'd';
  const amount = Math.max(abs < 10_000 ? 0 : 1, Math.round(abs / (divisors[unit] ?? 1)));
  if (amount === 0) return 'just now';
  return delta < 0 ? `${amount} ${unit} ago` : `in ${amount} ${unit}`;
}

/** `2026-12-01 11:42 UTC`: absolute, unambiguous, the same in every browser locale. */
export function formatAbsolute(iso: string): string {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  return `${at.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
