import { errorMessage } from '@warden/errors';
import type { Logger } from '@warden/logging';
import type { BackupStorage } from '@warden/storage';
import { listBackups } from './catalog.js';
import { pickLatestGoodBackup } from './latest-good-backup.js';
import { type BackupManifest, dumpKeyFor, manifestKeyFor } from './manifest.js';

/** Retention settings of a target (docs/architecture.md#retention). */
export interface RetentionPolicy {
  /** Backups younger than this many days are kept. */
  retentionDays: number;
  /** The newest `keepLast` backups are kept whatever their age (at least 1 always is). */
  keepLast: number;
}

export interface RetentionPlan {
  keep: BackupManifest[];
  remove: BackupManifest[];
}

/**
 * A target's retention rules: {@link RetentionPolicy} plus optional grandfather-father-son counts.
 * A backup is kept when any rule keeps it.
 */
export interface RetentionRules extends RetentionPolicy {
  /** Keep the newest backup of each of the last N UTC days that have backups. @defaultValue 0 (off) */
  keepDaily?: number;
  /** Keep the newest backup of each of the last N ISO weeks that have backups. @defaultValue 0 (off) */
  keepWeekly?: number;
  /** Keep the newest backup of each of the last N calendar months that have backups. @defaultValue 0 (off) */
  keepMonthly?: number;
  /**
   * The target's own database: the `newest-good` rule keeps its latest good backup (see
   * `latestGoodBackup`). Without it, the newest good backup of any database that is not a safety
   * copy stays.
   */
  database?: string;
}

/** Why a backup is kept; a backup absent from the explanation's `kept` is removed. */
export type RetentionReason =
  | 'young'
  | 'keep-last'
  | 'newest-good'
  | 'newest-verified'
  | 'daily'
  | 'weekly'
  | 'monthly'
  | 'unknown-time';

export interface RetentionExplanation {
  kept: { manifest: BackupManifest; reasons: RetentionReason[] }[];
  removed: BackupManifest[];
}

const DAY_MS = 24 * 60 * 60 * 1000;

function newestFirst(a: BackupManifest, b: BackupManifest): number {
  const byTime = Date.parse(b.started_at) - Date.parse(a.started_at);
  if (byTime !== 0) return byTime;
  return a.filename < b.filename ? 1 : a.filename > b.filename ? -1 : 0;
}

function wholeCount(value: number | undefined): number {
  return value === undefined || !Number.isFinite(value) ? 0 : Math.max(0, Math.floor(value));
}

/** `YYYY-Www` of the ISO 8601 week (weeks start on Monday; week 1 holds the year's first Thursday). */
export function isoWeekKey(date: Date): string {
  const day = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  const weekday = day.getUTCDay() || 7;
  day.setUTCDate(day.getUTCDate() + 4 - weekday);
  const yearStart = Date.UTC(day.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((day.getTime() - yearStart) / DAY_MS + 1) / 7);
  return `${day.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

const PERIODS: {
  reason: 'daily' | 'weekly' | 'monthly';
  count: keyof RetentionRules;
  key: (d: Date) => string;
}[] = [
  { reason: 'daily', count: 'keepDaily', key: (d) => d.toISOString().slice(0, 10) },
  { reason: 'weekly', count: 'keepWeekly', key: isoWeekKey },
  { reason: 'monthly', count: 'keepMonthly', key: (d) => d.toISOString().slice(0, 7) },
];

/**
 * docs/architecture.md#retention, per target, with reasons: keep backups younger than `retentionDays`, the newest
 * `keepLast` (at least one), the newest backup whose restore test did not fail, the newest backup
 * whose restore test passed, and the grandfather-father-son representatives (the newest good backup
 * of each of the last N days, weeks and months that have one); remove the rest. Pure.
 */
export function explainRetention(
  manifests: readonly BackupManifest[],
  rules: RetentionRules,
  now: Date,
): RetentionExplanation {
  const keepLast = Math.max(1, Math.floor(rules.keepLast));
  const cutoff = now.getTime() - rules.retentionDays * DAY_MS;
  const byTarget = new Map<string, BackupManifest[]>();
  for (const manifest of manifests) {
    const group = byTarget.get(manifest.target) ?? [];
    group.push(manifest);
    byTarget.set(manifest.target, group);
  }
  const explanation: RetentionExplanation = { kept: [], removed: [] };
  for (const group of byTarget.values()) {
    const sorted = [...group].sort(newestFirst);
    const reasons = new Map<BackupManifest, RetentionReason[]>(sorted.map((manifest) => [manifest, []]));
    const add = (manifest: BackupManifest | undefined, reason: RetentionReason) => {
      if (manifest) reasons.get(manifest)?.push(reason);
    };
    const targetName = sorted[0]?.target ?? '';
    const databases =
      rules.database === undefined
        ? [...new Set(sorted.map((manifest) => manifest.database))]
        : [rules.database];
    const newestGood = databases
      .map((database) => pickLatestGoodBackup(sorted, { name: targetName, database }))
      .filter((manifest) => manifest !== undefined)
      .sort(newestFirst)[0];
    add(newestGood, 'newest-good');
    add(
      sorted.find((manifest) => manifest.verification?.status === 'passed'),
      'newest-verified',
    );
    sorted.forEach((manifest, index) => {
      const startedAt = Date.parse(manifest.started_at);
      // An unreadable time is never a reason to delete.
      if (Number.isNaN(startedAt)) add(manifest, 'unknown-time');
      else if (startedAt >= cutoff) add(manifest, 'young');
      if (index < keepLast) add(manifest, 'keep-last');
    });
    for (const period of PERIODS) {
      const limit = wholeCount(rules[period.count] as number | undefined);
      if (limit === 0) continue;
      const seen = new Set<string>();
      for (const manifest of sorted) {
        if (seen.size >= limit) break;
        const startedAt = Date.parse(manifest.started_at);
        // A backup whose restore test failed is no one's representative.
        if (Number.isNaN(startedAt) || manifest.verification?.status === 'failed') continue;
        const bucket = period.key(new Date(startedAt));
        if (seen.has(bucket)) continue;
        seen.add(bucket);
        add(manifest, period.reason);
      }
    }
    for (const manifest of sorted) {
      const why = reasons.get(manifest) ?? [];
      if (why.length > 0) explanation.kept.push({ manifest, reasons: why });
      else explanation.removed.push(manifest);
    }
  }
  explanation.kept.sort((a, b) => newestFirst(a.manifest, b.manifest));
  explanation.removed.sort(newestFirst);
  return explanation;
}

/** {@link explainRetention} without the reasons. Pure. */
export function planRetention(
  manifests: readonly BackupManifest[],
  policy: RetentionRules,
  now: Date,
): RetentionPlan {
  const explanation = explainRetention(manifests, policy, now);
  return { keep: explanation.kept.map((entry) => entry.manifest), remove: explanation.removed };
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
  /** Why each kept backup stays, by storage key. */
  reasons: Record<string, RetentionReason[]>;
  /** Removed (or, in a dry run, to be removed). */
  removed: BackupManifest[];
  /** Deletions that failed; they are retried on the next run. */
  failed: { manifest: BackupManifest; error: string }[];
}

/** A target as callers hold it; its GFS counts fill in what the policy leaves unset. */
export type RetentionTargetRef = string | ({ name: string } & Partial<RetentionRules>);

/**
 * Deletes the target's expired backups: the dump first, then its manifest, so a backup never loses
 * its manifest while its dump is still there. Only objects under `<target>/` whose manifest names
 * this target are considered (a target named `app` never touches `app2/`).
 *
 * Callers run it only after a good backup (never after a failed one). The GFS counts come from
 * `policy`, or from the target object when the policy leaves them unset, so callers that pass the
 * configured target get its per-target GFS settings.
 */
export async function applyRetention(
  deps: { storage: BackupStorage; logger: Logger },
  targetOrName: RetentionTargetRef,
  policy: RetentionRules,
  options: ApplyRetentionOptions = {},
): Promise<RetentionOutcome> {
  const { storage, logger } = deps;
  const target = typeof targetOrName === 'string' ? targetOrName : targetOrName.name;
  const rules: RetentionRules = { ...policy };
  if (typeof targetOrName !== 'string') {
    for (const field of ['keepDaily', 'keepWeekly', 'keepMonthly'] as const) {
      const fromTarget = targetOrName[field];
      if (rules[field] === undefined && fromTarget !== undefined) rules[field] = fromTarget;
    }
    if (rules.database === undefined && targetOrName.database !== undefined) {
      rules.database = targetOrName.database;
    }
  }
  const log = logger.child({ target });
  const dryRun = options.dryRun ?? false;
  const manifests = (await listBackups(storage, { target })).filter(
    (manifest) => manifest.target === target && manifest.key === dumpKeyFor(target, manifest.filename),
  );
  const explanation = explainRetention(manifests, rules, options.now ?? new Date());
  const outcome: RetentionOutcome = {
    target,
    dryRun,
    kept: explanation.kept.map((entry) => entry.manifest),
    reasons: Object.fromEntries(explanation.kept.map((entry) => [entry.manifest.key, entry.reasons])),
    removed: [],
    failed: [],
  };
  for (const manifest of explanation.removed) {
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
