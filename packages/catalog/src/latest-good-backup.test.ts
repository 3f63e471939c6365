import { describe, expect, it } from 'vitest';
import { writeManifest } from './catalog.js';
import { latestGoodBackup, pickLatestGoodBackup, SAFETY_COPY_TRIGGER } from './latest-good-backup.js';
import { type BackupManifest, manifestKeyFor } from './manifest.js';
import { createMemoryStorage } from './testing/memory-storage.js';
import { testManifest } from './testing/test-manifest.js';

const NOW = Date.parse('2025-10-15T12:00:00Z');
const MINUTE = 60_000;

function manifest(database: string, minutesAgo: number, extra: Partial<BackupManifest> = {}): BackupManifest {
  return testManifest(
    { target: 'app', database, startedAt: new Date(NOW - minutesAgo * MINUTE) },
    { sha256: 'c'.repeat(64), trigger: 'schedule', ...extra },
  );
}

const target = { name: 'app', database: 'appdb' };
const failed = { verification: { status: 'failed' as const, at: new Date(NOW).toISOString() } };

describe('latestGoodBackup', () => {
  const own = manifest('appdb', 60);
  const newestFirst = [
    manifest('otherdb', 1, { trigger: SAFETY_COPY_TRIGGER }),
    manifest('appdb', 2, { trigger: SAFETY_COPY_TRIGGER }),
    manifest('appdb', 3, failed),
    manifest('otherdb', 4),
    own,
    manifest('appdb', 120),
  ];

  it("is the newest backup of the target's own database that is no safety copy and passed or never had a restore test", () => {
    expect(pickLatestGoodBackup(newestFirst, target)).toBe(own);
  });

  it('counts safety copies and failed restore tests only when asked', () => {
    expect(pickLatestGoodBackup(newestFirst, target, { includeSafetyCopies: true })?.started_at).toBe(
      newestFirst[1]?.started_at,
    );
    expect(pickLatestGoodBackup(newestFirst, target, { includeFailedRestoreTests: true })?.started_at).toBe(
      newestFirst[2]?.started_at,
    );
    expect(pickLatestGoodBackup(newestFirst, { name: 'other-target', database: 'appdb' })).toBeUndefined();
  });

  it('reads the catalog of the target from storage', async () => {
    const storage = createMemoryStorage();
    for (const item of newestFirst) {
      await storage.putBytes(item.key, 'dump');
      await writeManifest(storage, item);
    }
    expect((await latestGoodBackup(storage, target))?.key).toBe(own.key);
    expect(await latestGoodBackup(storage, { name: 'app', database: 'nodb' })).toBeUndefined();
  });

  it('reads one manifest when the newest backup is good', async () => {
    const storage = createMemoryStorage();
    const newest = manifest('appdb', 1);
    for (const item of [newest, own, manifest('appdb', 120)]) await writeManifest(storage, item);
    expect((await latestGoodBackup(storage, target))?.key).toBe(newest.key);
    expect(storage.keysRead).toEqual([manifestKeyFor(newest.key)]);
  });
});
