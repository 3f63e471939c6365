import { statfs } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { HealthStatus, ProbeResult } from './types.js';
import { probeErrorMessage } from './with-timeout.js';

export interface DiskUsage {
  /** Used share of the space available to unprivileged users, 0–100 (what `df` shows as Use%). */
  usedPercent: number;
  freeBytes: number;
}

export type DiskUsageReader = (path: string) => Promise<DiskUsage>;

const GIB = 1024 ** 3;
const round2 = (value: number) => Math.round(value * 100) / 100;

/**
 * Usage of the filesystem holding `path`, computed like `df`: used / (used + available to users),
 * so the blocks reserved for root count as unavailable. A path that does not exist yet (a spool dir
 * created on first backup) is measured at its nearest existing parent.
 */
export async function readDiskUsage(path: string): Promise<DiskUsage> {
  let current = resolve(path);
  for (;;) {
    try {
      const stats = await statfs(current);
      const used = (stats.blocks - stats.bfree) * stats.bsize;
      const available = stats.bavail * stats.bsize;
      const usable = used + available;
      return { usedPercent: usable === 0 ? 0 : (used / usable) * 100, freeBytes: available };
    } catch (error) {
      const parent = dirname(current);
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || parent === current) throw error;
      current = parent;
    }
  }
}

export interface DiskThresholds {
  /** `DISK_WARNING_PERCENT`: above it, degraded. */
  diskWarningPercent: number;
  /** `DISK_CRITICAL_PERCENT`: above it, unhealthy. */
  diskCriticalPercent: number;
}

export function classifyDiskUsage(usedPercent: number, thresholds: DiskThresholds): HealthStatus {
  if (usedPercent > thresholds.diskCriticalPercent) return 'unhealthy';
  if (usedPercent > thresholds.diskWarningPercent) return 'degraded';
  return 'healthy';
}

/**
 * Checks every path and reports the fullest one at the top level (docs/architecture.md#health, `free_gb`),
 * with each path's numbers under `paths`.
 */
export async function probeDisk(
  paths: readonly string[],
  thresholds: DiskThresholds,
  readUsage: DiskUsageReader = readDiskUsage,
): Promise<ProbeResult> {
  const unique = [...new Set(paths.map((path) => resolve(path)))];
  const details: Record<
    string,
    { status: HealthStatus; usage_percent?: number; free_gb?: number; error?: string }
  > = {};
  let worst: { path: string; usage: DiskUsage } | undefined;
  let failure: string | undefined;
  for (const path of unique) {
    try {
      const usage = await readUsage(path);
      details[path] = {
        status: classifyDiskUsage(usage.usedPercent, thresholds),
        usage_percent: round2(usage.usedPercent),
        free_gb: round2(usage.freeBytes / GIB),
      };
      if (!worst || usage.usedPercent > worst.usage.usedPercent) worst = { path, usage };
    } catch (error) {
      failure = `${path}: ${probeErrorMessage(error)}`;
      details[path] = { status: 'unhealthy', error: probeErrorMessage(error) };
    }
  }
  if (!worst) {
    return { status: 'unhealthy', error: failure ?? 'no path to check', paths: details };
  }
  const status = failure ? 'unhealthy' : classifyDiskUsage(worst.usage.usedPercent, thresholds);
  return {
    status,
    usage_percent: round2(worst.usage.usedPercent),
    free_gb: round2(worst.usage.freeBytes / GIB),
    path: worst.path,
    ...(failure ? { error: failure } : {}),
    paths: details,
  };
}
