import { latestGoodBackup } from '@warden/catalog';
import type { BackupScheduleTarget, LatestBackupSource } from '@warden/probes';
import type { BackupStorage } from '@warden/storage';

/** A configured target as the backup-age probe sees it. */
export interface FreshnessTarget extends BackupScheduleTarget {
  database: string;
}

/**
 * Where the backup-age probe reads each target's latest good backup: the catalog's one definition
 * (the target's own database, no pre-restore safety copy, no failed restore test).
 */
export function createBackupFreshnessSource(
  storage: BackupStorage,
  targets: readonly FreshnessTarget[],
): LatestBackupSource {
  const byName = new Map(targets.map((target) => [target.name, target]));
  return {
    targets,
    listLatest: async (name) => {
      const target = byName.get(name);
      return target === undefined ? undefined : latestGoodBackup(storage, target);
    },
  };
}
