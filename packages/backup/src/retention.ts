import type { Logger } from '@warden/logging';
import type { BackupStorage } from '@warden/storage';
import { listBackups } from './catalog.js';
import { errorMessage } from './errors.js';
import { type BackupManifest, dumpKeyFor, manifestKeyFor } from './manifest.js';
import type { RetentionPolicy } from './target.js';

export interface RetentionPlan {
  keep: BackupManifest[];
  remove: BackupManifest[];
}

const DAY_MS = 24 * 60 * 60 * 1000;

function newestFirst(a: BackupManifest, b: BackupManifest): number {
  const byTime = Date.parse(b.started_at) - Date.parse(a.started_at);
  if (byTime !== 0) return byTime;
  return a.filename < b.filename ? 1 : a.filename > b.filename ? -1 : 0;
}

/**
 * SPEC B7, per target: keep backups younger than `retentionDays`, the newest `keepLast` (at least
 * one), and the newest backup whose restore test did not fail; remove the rest. Pure.
 */
export function planRetention(
  manifests: readonly BackupManifest[],
  policy: RetentionPolicy,
  now: Date,
): RetentionPlan {
  const keepLast = Math.max(1, Math.floor(policy.keepLast));
  const cutoff = now.getTime() - policy.retentionDays * DAY_MS;
  const byTarget = new Map<string, BackupManifest[]>();
  for (const manifest of manifests) {
    const group = byTarget.get(manifest.target) ?? [];
    group.push(manifest);
    byTarget.set(manifest.target, group);
  }
  const plan: RetentionPlan = { keep: [], remove: [] };
  for (const group of byTarget.values()) {
    const sorted = [...group].sort(newestFirst);
    const newestGood = sorted.find((manifest) => manifest.verification?.status !== 'failed');
    sorted.forEach((manifest, index) => {
      const startedAt = Date.parse(manifest.started_at);
      // An unreadable time is never a reason to delete.
      const young = Number.isNaN(startedAt) || startedAt >= cutoff;
      if (index < keepLast || manifest === newestGood || young) plan.keep.push(manifest);
      else plan.remove.push(manifest);
    });
  }
  plan.keep.sort(newestFirst);
  plan.remove.sort(newestFirst);
  return plan;
}

export interface ApplyRetentionOptions {
  /** Only report what would be removed. @defaultValue false */
  dryRun?: boolean;
  /** @defaultValue new Date() */
  now?: Date;
}

export interface RetentionOutcome {
  target: string;
  dryRun: boolean;
  kept: BackupManifest[];
  /** Removed (or, in a dry run, to be removed). */
  removed: BackupManifest[];
  /** Deletions that failed; they are retried on the next run. */
  failed: { manifest: BackupManifest; error: string }[];
}

/**
 * Deletes the target's expired backups: the dump first, then its manifest, so a backup never loses
 * its manifest while its dump is still there. Only objects under `<target>/` whose manifest names
 * this target are considered.
 */
export async function applyRetention(
  deps: { storage: BackupStorage; logger: Logger },
  targetOrName: string | { name: string },
  policy: RetentionPolicy,
  options: ApplyRetentionOptions = {},
): Promise<RetentionOutcome> {
  const { storage, logger } = deps;
  const target = typeof targetOrName === 'string' ? targetOrName : targetOrName.name;
  const log = logger.child({ target });
  const dryRun = options.dryRun ?? false;
  const manifests = (await listBackups(storage, { target })).filter(
    (manifest) => manifest.target === target && manifest.key === dumpKeyFor(target, manifest.filename),
  );
  const plan = planRetention(manifests, policy, options.now ?? new Date());
  const outcome: RetentionOutcome = { target, dryRun, kept: plan.keep, removed: [], failed: [] };
  for (const manifest of plan.remove) {
    if (dryRun) {
      outcome.removed.push(manifest);
      continue;
    }
    try {
      await storage.delete(manifest.key);
      await storage.delete(manifestKeyFor(manifest.key));
      outcome.removed.push(manifest);
      log.info({ filename: manifest.filename, startedAt: manifest.started_at }, 'expired backup deleted');
    } catch (error) {
      outcome.failed.push({ manifest, error: errorMessage(error) });
      log.warn({ err: error, filename: manifest.filename }, 'deleting an expired backup failed');
    }
  }
  return outcome;
}
