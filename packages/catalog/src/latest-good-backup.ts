import type { BackupStorage } from '@warden/storage';
import { manifestsNewestFirst } from './catalog.js';
import type { BackupManifest, RestoreTestRecord } from './manifest.js';

/** The `trigger` of the backup a restore takes of a database just before replacing it. */
export const SAFETY_COPY_TRIGGER = 'pre-restore';

/** Whose backups: a target and the database its scheduled backups dump. */
export interface CatalogTarget {
  name: string;
  database: string;
}

export interface LatestGoodBackupOptions {
  /**
   * Count the safety copies a restore takes before replacing a database (trigger `pre-restore`).
   * They undo one restore; they are not the target's backups. @defaultValue false
   */
  includeSafetyCopies?: boolean;
  /** Count backups whose restore test failed. @defaultValue false */
  includeFailedRestoreTests?: boolean;
}

/** What {@link isGoodBackupOf} looks at: a manifest or its summary. */
export type GoodBackupFields = Pick<BackupManifest, 'target' | 'database' | 'trigger'> & {
  verification?: Pick<RestoreTestRecord, 'status'> | undefined;
};

export function isSafetyCopy(manifest: Pick<BackupManifest, 'trigger'>): boolean {
  return manifest.trigger === SAFETY_COPY_TRIGGER;
}

/**
 * The one definition of a good backup of a target: of the target's own database (safety copies of
 * other databases live under the target's prefix too), not a safety copy, and not failed by a
 * restore test, unless the options ask for those.
 */
export function isGoodBackupOf(
  manifest: GoodBackupFields,
  target: CatalogTarget,
  options: LatestGoodBackupOptions = {},
): boolean {
  if (manifest.target !== target.name || manifest.database !== target.database) return false;
  if (!options.includeSafetyCopies && isSafetyCopy(manifest)) return false;
  if (!options.includeFailedRestoreTests && manifest.verification?.status === 'failed') return false;
  return true;
}

/** The first good backup of `target` in a newest-first list (as `listBackups` returns it). Pure. */
export function pickLatestGoodBackup(
  newestFirst: readonly BackupManifest[],
  target: CatalogTarget,
  options: LatestGoodBackupOptions = {},
): BackupManifest | undefined {
  return newestFirst.find((manifest) => isGoodBackupOf(manifest, target, options));
}

/**
 * The newest good backup of a target ({@link isGoodBackupOf}); `undefined` when there is none.
 * Restore's `latest`, retention's `newest-good` rule and the backup-age probe all use it.
 */
export async function latestGoodBackup(
  storage: BackupStorage,
  target: CatalogTarget,
  options: LatestGoodBackupOptions = {},
): Promise<BackupManifest | undefined> {
  // Newest first and lazily: a target with years of backups costs one listing and, mostly, one manifest.
  return firstGoodBackup(
    manifestsNewestFirst(storage, { target: target.name, expected: 1 }),
    target,
    options,
  );
}

/** The first good backup of `target` in a newest-first stream of manifests or summaries; reads no further. */
export async function firstGoodBackup<T extends GoodBackupFields>(
  newestFirst: AsyncIterable<T>,
  target: CatalogTarget,
  options: LatestGoodBackupOptions = {},
): Promise<T | undefined> {
  for await (const manifest of newestFirst) {
    if (isGoodBackupOf(manifest, target, options)) return manifest;
  }
  return undefined;
}
