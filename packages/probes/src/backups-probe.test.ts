import { describe, expect, it } from 'vitest';
import { backupDeadline, evaluateBackupFreshness, probeBackups } from './backups-probe.js';

const nightly = { name: 'main', schedule: '0 3 * * *', timezone: 'UTC' };
const HOUR = 3600_000;

describe('evaluateBackupFreshness', () => {
  const now = new Date('2025-10-15T12:00:00Z');

  it('is healthy when the last run after the latest schedule succeeded', () => {
    const result = evaluateBackupFreshness(nightly, new Date('2025-10-15T03:10:00Z'), now, 2 * HOUR);
    expect(result).toMatchObject({ status: 'healthy', age_s: 8 * 3600 + 50 * 60 });
    expect(result.expected_since).toBe('2025-10-15T03:00:00.000Z');
  });

  it('is degraded when the latest scheduled run produced nothing after the grace period', () => {
    const result = evaluateBackupFreshness(nightly, new Date('2025-10-14T03:10:00Z'), now, 2 * HOUR);
    expect(result.status).toBe('degraded');
    expect(result.error).toContain('2025-10-15T03:00:00.000Z');
  });

  it('gives the running backup its grace period', () => {
    const at = new Date('2025-10-15T04:00:00Z');
    expect(evaluateBackupFreshness(nightly, new Date('2025-10-14T03:10:00Z'), at, 2 * HOUR).status).toBe(
      'healthy',
    );
    expect(evaluateBackupFreshness(nightly, new Date('2025-10-14T03:10:00Z'), at, 30 * 60_000).status).toBe(
      'degraded',
    );
  });

  it('follows the target time zone', () => {
    const berlin = { ...nightly, timezone: 'Europe/Berlin' };
    // 03:00 in Berlin (CEST) is 01:00 UTC.
    const result = evaluateBackupFreshness(berlin, new Date('2025-10-15T01:30:00Z'), now, HOUR);
    expect(result).toMatchObject({ status: 'healthy', expected_since: '2025-10-15T01:00:00.000Z' });
  });

  it('falls back to a 26 hour bound for an unparsable schedule, and is degraded without any backup', () => {
    const broken = { ...nightly, schedule: 'not a cron' };
    expect(evaluateBackupFreshness(broken, new Date(now.getTime() - 25 * HOUR), now, HOUR).status).toBe(
      'healthy',
    );
    expect(evaluateBackupFreshness(broken, new Date(now.getTime() - 27 * HOUR), now, HOUR).status).toBe(
      'degraded',
    );
    expect(evaluateBackupFreshness(nightly, undefined, now, HOUR)).toMatchObject({
      status: 'degraded',
      error: 'no good backup recorded yet',
    });
  });
});

describe('newly watched targets and the deadline', () => {
  const now = new Date('2025-10-15T12:00:00Z');

  it('does not call a target overdue before its first scheduled run after watching began', () => {
    const watched = new Date('2025-10-15T11:00:00Z');
    const result = evaluateBackupFreshness(nightly, undefined, now, 2 * HOUR, watched);
    expect(result).toMatchObject({
      status: 'healthy',
      awaiting_first_run: true,
      deadline_at: '2025-10-16T05:00:00.000Z',
    });
    // Once that run plus grace has passed without a backup, it is overdue.
    const later = new Date('2025-10-16T05:01:00Z');
    expect(evaluateBackupFreshness(nightly, undefined, later, 2 * HOUR, watched).status).toBe('degraded');
  });

  it('judges an old backup from a target watched since before the missed run as before', () => {
    const watched = new Date('2025-10-01T00:00:00Z');
    const result = evaluateBackupFreshness(nightly, new Date('2025-10-14T03:10:00Z'), now, 2 * HOUR, watched);
    expect(result).toMatchObject({ status: 'degraded', deadline_at: '2025-10-15T05:00:00.000Z' });
  });

  it('puts the deadline at the first run after the last good backup, plus grace', () => {
    const hourly = { ...nightly, schedule: '15 * * * *' };
    expect(backupDeadline(hourly, new Date('2025-10-15T10:20:00Z'), undefined, 30 * 60_000)).toEqual(
      new Date('2025-10-15T11:45:00Z'),
    );
    // A run exactly when watching began counts as the first one.
    expect(backupDeadline(hourly, undefined, new Date('2025-10-15T11:15:00Z'), 0)).toEqual(
      new Date('2025-10-15T11:15:00Z'),
    );
  });
});

describe('probeBackups', () => {
  it('reports every target and survives a failing listing', async () => {
    const result = await probeBackups(
      {
        targets: [nightly, { ...nightly, name: 'broken' }],
        listLatest: async (target) => {
          if (target === 'broken') throw new Error('storage unreachable');
          return { finished_at: new Date().toISOString() };
        },
      },
      { timeoutMs: 1_000, graceMs: HOUR },
    );
    expect(result.status).toBe('degraded');
    expect(result.targets).toMatchObject({
      main: { status: 'healthy' },
      broken: { status: 'degraded', error: 'cannot list backups: storage unreachable' },
    });
  });
});
