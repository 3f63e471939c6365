import { describe, expect, it } from 'vitest';
import { evaluateBackupFreshness, probeBackups } from './backups-probe.js';

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
