import { createManifestSummaries, firstGoodBackup } from '@warden/catalog';
import type { BackupScheduleTarget, LatestBackupSource } from '@warden/probes';
import type { BackupStorage } from '@warden/storage';

/** A configured target as the backup-age probe sees it. */
export interface FreshnessTarget extends BackupScheduleTarget {
  database: string;
}

/**
 * Where the backup-age probe reads each target's latest good backup: the catalog's one definition
 * (the target's own database, no pre-restore safety copy, no failed restore test). Every probe
 * cycle asks for every target, so the summaries are remembered: a cycle costs one key listing per
 * target plus the manifests written or rewritten since (docs/fleet.md).
 */
export function createBackupFreshnessSource(
  storage: BackupStorage,
  targets: readonly FreshnessTarget[],
): LatestBackupSource {
  const byName = new Map(targets.map((target) => [target.name, target]));
  const summaries = createManifestSummaries({ storage });
  return {
    targets,
    listLatest: async (name) => {
      const target = byName.get(name);
      return target === undefined ? undefined : firstGoodBackup(summaries.newestFirst(name, 1), target);
    },
  };
}
