import type { BackupManifest } from '@warden/catalog';
import type { BackupTarget } from '@warden/config';
import { describe, expect, it } from 'vitest';
import { type FleetInputs, summariseFleet, TREND_LENGTH } from './fleet.js';

const NOW = new Date('2026-12-01T12:00:00Z');

function target(name: string, overrides: Partial<BackupTarget> = {}): BackupTarget {
  return {
    name,
    environment: 'test',
    databaseUrl: `postgres://127.0.0.1/${name}`,
    database: name,
    schedule: '0 3 * * *',
    timezone: 'UTC',
    retentionDays: 30,
    keepLast: 1,
    enabled: true,
    ...overrides,
  };
}

function manifest(of: BackupTarget, finishedAt: string, extra: Partial<BackupManifest> = {}): BackupManifest {
  const filename = `${of.database}_test_${finishedAt.replace(/\D/g, '').slice(0, 8)}_${finishedAt.replace(/\D/g, '').slice(8, 14)}.sql.gz`;
  return {
    formatVersion: 1,
    status: 'success',
    target: of.name,
    environment: 'test',
    database: of.database,
    filename,
    key: `${of.name}/${filename}`,
    bytes: 1000,
    size_mb: 0,
    sha256: 'a'.repeat(64),
    sql_bytes: 4000,
    compression: 'gzip',
    started_at: finishedAt,
    finished_at: finishedAt,
    duration_ms: 1000,
    location: '/tmp',
    server_version: '15',
    pg_dump_version: '15',
    host: 'h',
    ...extra,
  };
}

function inputs(overrides: Partial<FleetInputs>): FleetInputs {
  return {
    targets: [],
    backupEnabled: true,
    restoreVerifyEnabled: true,
    manifests: [],
    nextRuns: new Map(),
    jobs: new Map(),
    failures: new Map(),
    graceMs: 2 * 3600_000,
    now: NOW,
    ...overrides,
  };
}

describe('summariseFleet', () => {
  const fresh = target('fresh');
  const overdue = target('overdue');
  const broken = target('broken');

  it('orders failing, degraded, healthy and says why', () => {
    const tested = { verification: { status: 'passed' as const, at: '2026-12-01T04:00:00Z' } };
    const rows = summariseFleet(
      inputs({
        targets: [fresh, overdue, broken],
        manifests: [
          manifest(fresh, '2026-12-01T03:05:00Z', tested),
          manifest(broken, '2026-12-01T03:04:00Z', tested),
          // Due at 03:00 today and 03:00 yesterday: a backup from two days ago missed a run.
          manifest(overdue, '2026-11-29T03:05:00Z', tested),
        ],
        failures: new Map([
          [
            'broken',
            [{ kind: 'backup', jobId: 'j1', at: '2026-12-01T11:00:00Z', reason: 'PG_DUMP_FAILED: boom' }],
          ],
        ]),
      }),
    );
    expect(rows.map((row) => [row.name, row.status])).toEqual([
      ['broken', 'failing'],
      ['overdue', 'degraded'],
      ['fresh', 'healthy'],
    ]);
    expect(rows[0]?.reasons).toEqual(['last backup failed: PG_DUMP_FAILED: boom']);
    expect(rows[1]?.reasons[0]).toMatch(/^backup overdue: none since the run due 2026-12-01T03:00:00/);
    expect(rows[2]?.reasons).toEqual([]);
  });

  it('ignores a failure older than the last good backup, and counts a failed restore test', () => {
    const rows = summariseFleet(
      inputs({
        targets: [fresh],
        manifests: [
          manifest(fresh, '2026-12-01T03:05:00Z', {
            verification: { status: 'failed', at: '2026-12-01T05:00:00Z', problems: ['rows differ'] },
          }),
          manifest(fresh, '2026-11-30T03:05:00Z'),
        ],
        failures: new Map([
          ['fresh', [{ kind: 'backup', jobId: 'old', at: '2026-11-30T01:00:00Z', reason: 'old failure' }]],
        ]),
      }),
    );
    expect(rows[0]?.status).toBe('failing');
    // The backup that failed its restore test no longer counts as good; the one before it does.
    expect(rows[0]?.lastBackup?.finished_at).toBe('2026-11-30T03:05:00Z');
    expect(rows[0]?.reasons).toContain('restore test of fresh_test_20261201_030500.sql.gz failed');
    expect(rows[0]?.reasons.join()).not.toContain('old failure');
  });

  it('has a target without backups failing, skips safety copies, and caps the trend oldest first', () => {
    const many = Array.from({ length: TREND_LENGTH + 5 }, (_, index) =>
      manifest(fresh, new Date(NOW.getTime() - (index + 1) * 3600_000).toISOString(), {
        bytes: 1000 + index,
      }),
    );
    const safety = manifest(fresh, '2026-12-01T11:59:00Z', { trigger: 'pre-restore', bytes: 1 });
    const rows = summariseFleet(
      inputs({ targets: [fresh, broken], manifests: [safety, ...many], restoreVerifyEnabled: false }),
    );
    const row = rows.find((candidate) => candidate.name === 'fresh');
    expect(row?.trend).toHaveLength(TREND_LENGTH);
    expect(row?.trend.at(-1)?.bytes).toBe(1000);
    expect(row?.trend[0]?.bytes).toBe(1000 + TREND_LENGTH - 1);
    expect(row?.lastBackup?.bytes).toBe(1000);
    expect(rows[0]).toMatchObject({ name: 'broken', status: 'failing', reasons: ['no good backup yet'] });
  });
});
