import { describe, expect, it } from 'vitest';
import { backupAlerts } from './backup-alerts.js';

const base = { target: 'main', environment: 'production' };

describe('backupAlerts', () => {
  it('reports a success with file name, size and environment (docs/architecture.md#alerts)', () => {
    const alert = backupAlerts.success({
      ...base,
      filename: 'main_production_20251015_121644.sql.gz',
      size_mb: 85.6,
      duration_ms: 6_740,
    });
    expect(alert).toMatchObject({
      level: 'success',
      key: 'backup-success:main:main_production_20251015_121644.sql.gz',
    });
    expect(alert.fields).toMatchObject({
      File: 'main_production_20251015_121644.sql.gz',
      Size: '85.6 MB',
      Environment: 'production',
      Duration: '6.7 s',
    });
  });

  it('keys failures per target so repeated failures are throttled together', () => {
    expect(backupAlerts.failure({ ...base, error: 'x' }).key).toBe('backup-failed:main');
    expect(backupAlerts.integrityFailure({ ...base, reason: 'gzip stream truncated' })).toMatchObject({
      key: 'backup-integrity-failed:main',
      level: 'error',
      text: 'gzip stream truncated. The file was not stored as a good backup.',
    });
    expect(backupAlerts.restoreTestFailed({ target: 'main', reason: 'row count differs' }).key).toBe(
      'restore-verify-failed:main',
    );
  });

  it('reports every upload retry separately and the final failure as an error', () => {
    const retry = (attempt: number) =>
      backupAlerts.uploadFailure({
        ...base,
        filename: 'f.sql.gz',
        error: 'timeout',
        attempt,
        maxAttempts: 3,
        final: false,
        nextRetryInMs: 300_000,
      });
    expect(retry(1).key).not.toBe(retry(2).key);
    expect(retry(1)).toMatchObject({
      level: 'warning',
      fields: { Attempt: '1/3', 'Next retry in': '5 min 0 s' },
    });
    const final = backupAlerts.uploadFailure({
      ...base,
      filename: 'f.sql.gz',
      error: 'timeout',
      attempt: 3,
      maxAttempts: 3,
      final: true,
    });
    expect(final).toMatchObject({ level: 'error', key: 'backup-upload-failed:main' });
    expect(final.fields?.['Next retry in']).toBeUndefined();
  });

  it('reports restore results in both directions', () => {
    const ok = backupAlerts.restoreResult({
      target: 'main',
      file: 'f',
      database: 'main_restore',
      success: true,
      rows: 10,
    });
    const bad = backupAlerts.restoreResult({
      target: 'main',
      file: 'f',
      database: 'main_restore',
      success: false,
      error: 'psql exited 3',
    });
    expect(ok).toMatchObject({ level: 'success', title: 'Restore of main into main_restore succeeded' });
    expect(bad).toMatchObject({ level: 'error', key: 'restore-failed:main', text: 'psql exited 3' });
  });
});
