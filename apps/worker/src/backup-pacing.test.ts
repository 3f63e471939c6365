import { describe, expect, it } from 'vitest';
import { spreadOffsetMs, spreadStartAt } from './backup-pacing.js';

const MINUTE = 60_000;

describe('BACKUP_SCHEDULE_SPREAD', () => {
  it('gives each target a fixed offset inside the window, spread over it', () => {
    const names = Array.from({ length: 500 }, (_, index) => `db${index}`);
    const offsets = names.map((name) => spreadOffsetMs(name, 30 * MINUTE));
    expect(offsets).toEqual(names.map((name) => spreadOffsetMs(name, 30 * MINUTE)));
    expect(Math.min(...offsets)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...offsets)).toBeLessThan(30 * MINUTE);
    // Every 5-minute sixth of the window gets a fair share (500 / 6 ≈ 83).
    const buckets = new Array(6).fill(0) as number[];
    for (const offset of offsets) buckets[Math.floor(offset / (5 * MINUTE))]! += 1;
    for (const count of buckets) expect(count).toBeGreaterThan(50);
    expect(spreadOffsetMs('db1', 0)).toBe(0);
  });

  it('starts a scheduled run at the scheduled time plus the offset, the same on every later look', () => {
    const schedule = { pattern: '0 3 * * *', timezone: 'UTC' };
    const scheduled = Date.parse('2026-12-01T03:00:00Z');
    const startAt = spreadStartAt(schedule, 'db7', 30 * MINUTE, scheduled + 5);
    expect(startAt).toBe(scheduled + spreadOffsetMs('db7', 30 * MINUTE));
    // Looked at again when the delayed job comes back: the same start, so it runs now.
    expect(spreadStartAt(schedule, 'db7', 30 * MINUTE, startAt as number)).toBe(startAt);
    expect(spreadStartAt(schedule, 'db7', 0, scheduled)).toBeUndefined();
  });

  it('caps the spread at the interval of the schedule', () => {
    const everyFiveMinutes = { pattern: '*/5 * * * *', timezone: 'UTC' };
    const scheduled = Date.parse('2026-12-01T03:05:00Z');
    const startAt = spreadStartAt(everyFiveMinutes, 'db3', 60 * MINUTE, scheduled + 1) as number;
    expect(startAt - scheduled).toBeLessThan(5 * MINUTE);
  });
});
