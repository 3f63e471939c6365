import {
  type BackupManifest,
  backupFileName,
  dumpKeyFor,
  explainRetention,
  isoWeekKey,
  planRetention,
} from '@warden/catalog';
import { describe, expect, it } from 'vitest';

const NOW = new Date('2025-10-15T12:00:00Z');
const HOUR = 60 * 60 * 1000;

function manifest(target: string, at: string, extra: Partial<BackupManifest> = {}): BackupManifest {
  const startedAt = new Date(at);
  const filename = backupFileName('appdb', 'production', startedAt);
  return {
    formatVersion: 1,
    status: 'success',
    target,
    environment: 'production',
    database: 'appdb',
    filename,
    key: dumpKeyFor(target, filename),
    bytes: 10,
    size_mb: 0,
    sha256: 'a'.repeat(64),
    sql_bytes: 20,
    compression: 'gzip',
    started_at: startedAt.toISOString(),
    finished_at: startedAt.toISOString(),
    duration_ms: 5,
    location: '',
    server_version: '15.20',
    pg_dump_version: '15.20',
    host: 'test',
    ...extra,
  };
}

/** Two backups a day (03:00 and 15:00 UTC) for `days` days up to NOW. */
function twiceDaily(target: string, days: number): BackupManifest[] {
  const all: BackupManifest[] = [];
  for (let day = 0; day < days; day++) {
    for (const hour of [3, 15]) {
      const at = Date.UTC(2025, 9, 15, hour) - day * 24 * HOUR;
      if (at <= NOW.getTime()) all.push(manifest(target, new Date(at).toISOString()));
    }
  }
  return all;
}

const times = (items: BackupManifest[]) => items.map((item) => item.started_at.slice(0, 13));

describe('ISO weeks', () => {
  it('follow ISO 8601 (Monday start, week 1 holds the first Thursday)', () => {
    expect(isoWeekKey(new Date('2025-10-13T00:00:00Z'))).toBe('2025-W42'); // Monday
    expect(isoWeekKey(new Date('2025-10-19T23:59:59Z'))).toBe('2025-W42'); // Sunday
    expect(isoWeekKey(new Date('2025-10-20T00:00:00Z'))).toBe('2025-W43');
    expect(isoWeekKey(new Date('2024-12-30T00:00:00Z'))).toBe('2025-W01');
    expect(isoWeekKey(new Date('2021-01-03T00:00:00Z'))).toBe('2020-W53');
  });
});

describe('grandfather-father-son retention', () => {
  it('is off by default: only age, keep-last and the newest good backup count', () => {
    const all = twiceDaily('app', 120);
    const plan = planRetention(all, { retentionDays: 7, keepLast: 1 }, NOW);
    // 7 days back from 12:00 on the 15th: 15:00 on the 8th onwards, plus the 03:00 of the 15th.
    expect(plan.keep).toHaveLength(14);
    expect(plan.remove).toHaveLength(all.length - 14);
  });

  it('keeps the newest backup of each of the last N days, weeks and months that have backups', () => {
    const all = twiceDaily('app', 120);
    const explained = explainRetention(
      all,
      { retentionDays: 1, keepLast: 1, keepDaily: 3, keepWeekly: 3, keepMonthly: 4 },
      NOW,
    );
    const reasonsOf = (hour: string) =>
      explained.kept.find((entry) => entry.manifest.started_at.startsWith(hour))?.reasons ?? [];

    // Today 03:00 is the newest (the 15:00 of today is in the future of NOW and not generated).
    expect(reasonsOf('2025-10-15T03')).toEqual(
      expect.arrayContaining(['newest-good', 'young', 'keep-last', 'daily', 'weekly', 'monthly']),
    );
    expect(reasonsOf('2025-10-14T15')).toEqual(['young', 'daily']);
    expect(reasonsOf('2025-10-13T15')).toEqual(['daily']);
    // Weekly: the newest backup of the weeks before (Sundays 15:00).
    expect(reasonsOf('2025-10-12T15')).toEqual(['weekly']);
    expect(reasonsOf('2025-10-05T15')).toEqual(['weekly']);
    // Monthly: the last backup of September, August and July.
    expect(reasonsOf('2025-09-30T15')).toEqual(['monthly']);
    expect(reasonsOf('2025-08-31T15')).toEqual(['monthly']);
    expect(reasonsOf('2025-07-31T15')).toEqual(['monthly']);
    expect(times(explained.kept.map((entry) => entry.manifest))).toEqual([
      '2025-10-15T03',
      '2025-10-14T15',
      '2025-10-13T15',
      '2025-10-12T15',
      '2025-10-05T15',
      '2025-09-30T15',
      '2025-08-31T15',
      '2025-07-31T15',
    ]);
    expect(explained.removed).toHaveLength(all.length - 8);
  });

  it('skips backups whose restore test failed when choosing representatives', () => {
    const failed = { verification: { status: 'failed' as const, at: NOW.toISOString() } };
    const all = [
      manifest('app', '2025-10-15T03:00:00Z'),
      manifest('app', '2025-09-30T15:00:00Z', failed),
      manifest('app', '2025-09-30T03:00:00Z'),
      manifest('app', '2025-09-01T03:00:00Z'),
    ];
    const plan = planRetention(all, { retentionDays: 1, keepLast: 1, keepMonthly: 2 }, NOW);
    expect(times(plan.keep)).toEqual(['2025-10-15T03', '2025-09-30T03']);
  });

  it('never deletes the newest restore-tested backup, even when newer untested ones fill keep-last', () => {
    const passed = { verification: { status: 'passed' as const, at: NOW.toISOString() } };
    const all = [
      manifest('app', '2025-10-15T03:00:00Z'),
      manifest('app', '2025-10-14T03:00:00Z'),
      manifest('app', '2025-08-01T03:00:00Z', passed),
      manifest('app', '2025-07-01T03:00:00Z', passed),
    ];
    const explained = explainRetention(all, { retentionDays: 7, keepLast: 1 }, NOW);
    expect(times(explained.kept.map((entry) => entry.manifest))).toEqual([
      '2025-10-15T03',
      '2025-10-14T03',
      '2025-08-01T03',
    ]);
    expect(explained.kept[2]?.reasons).toEqual(['newest-verified']);
    expect(times(explained.removed)).toEqual(['2025-07-01T03']);
  });

  it('applies per target: counts of one target never keep or drop another target’s backups', () => {
    const all = [...twiceDaily('app', 10), ...twiceDaily('app2', 10)];
    const plan = planRetention(all, { retentionDays: 1, keepLast: 1, keepDaily: 2 }, NOW);
    for (const target of ['app', 'app2']) {
      expect(times(plan.keep.filter((item) => item.target === target))).toEqual([
        '2025-10-15T03',
        '2025-10-14T15',
      ]);
    }
  });
});
