import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifyDiskUsage, probeDisk, readDiskUsage } from './disk-probe.js';

const thresholds = { diskWarningPercent: 80, diskCriticalPercent: 90 };

describe('disk probe', () => {
  it('classifies strictly above the thresholds', () => {
    expect(classifyDiskUsage(80, thresholds)).toBe('healthy');
    expect(classifyDiskUsage(80.01, thresholds)).toBe('degraded');
    expect(classifyDiskUsage(90, thresholds)).toBe('degraded');
    expect(classifyDiskUsage(90.5, thresholds)).toBe('unhealthy');
  });

  it('measures a path that does not exist yet at its nearest existing parent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-disk-'));
    try {
      const usage = await readDiskUsage(join(dir, 'spool', 'not', 'yet'));
      expect(usage.usedPercent).toBeGreaterThanOrEqual(0);
      expect(usage.usedPercent).toBeLessThanOrEqual(100);
      expect(usage.freeBytes).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a path that cannot be read as unhealthy, keeping the others', async () => {
    const result = await probeDisk(['/ok', '/broken'], thresholds, async (path) => {
      if (path === '/broken') throw Object.assign(new Error('permission denied'), { code: 'EACCES' });
      return { usedPercent: 12.345, freeBytes: 2.5 * 1024 ** 3 };
    });
    expect(result).toMatchObject({ status: 'unhealthy', usage_percent: 12.35, free_gb: 2.5, path: '/ok' });
    expect(result.error).toBe('/broken: permission denied (EACCES)');
  });
});
