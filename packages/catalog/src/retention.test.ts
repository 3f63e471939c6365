import { createLogger } from '@warden/logging';
import { describe, expect, it } from 'vitest';
import { writeManifest } from './catalog.js';
import { type BackupManifest, backupFileName, dumpKeyFor, manifestKeyFor } from './manifest.js';
import { applyRetention, planRetention } from './retention.js';
import { createMemoryStorage } from './testing/memory-storage.js';
import { testManifest } from './testing/test-manifest.js';

const NOW = new Date('2025-10-15T12:00:00Z');
const DAY = 24 * 60 * 60 * 1000;
const logger = createLogger({ service: 'retention-test', level: 'silent' });

function manifest(target: string, daysAgo: number, extra: Partial<BackupManifest> = {}): BackupManifest {
  return testManifest({ target, startedAt: new Date(NOW.getTime() - daysAgo * DAY) }, extra);
}

const names = (items: BackupManifest[]) =>
  items.map((item) => `${item.target}/${item.started_at.slice(0, 10)}`);

describe('planRetention', () => {
  it('keeps backups younger than retentionDays and removes older ones', () => {
    const all = [manifest('app', 1), manifest('app', 29), manifest('app', 31), manifest('app', 60)];
    const plan = planRetention(all, { retentionDays: 30, keepLast: 1 }, NOW);
    expect(names(plan.keep)).toEqual(['app/2025-10-14', 'app/2025-09-16']);
    expect(names(plan.remove)).toEqual(['app/2025-09-14', 'app/2025-08-16']);
  });

  it('never removes the newest backup, even when every backup is expired', () => {
    const all = [manifest('app', 90), manifest('app', 100), manifest('app', 45)];
    const plan = planRetention(all, { retentionDays: 30, keepLast: 0 }, NOW);
    expect(names(plan.keep)).toEqual(['app/2025-08-31']);
    expect(plan.remove).toHaveLength(2);
  });

  it('keeps the newest keepLast whatever their age', () => {
    const all = [manifest('app', 50), manifest('app', 40), manifest('app', 60), manifest('app', 70)];
    const plan = planRetention(all, { retentionDays: 7, keepLast: 3 }, NOW);
    expect(names(plan.keep)).toEqual(['app/2025-09-05', 'app/2025-08-26', 'app/2025-08-16']);
    expect(names(plan.remove)).toEqual(['app/2025-08-06']);
  });

  it('also keeps the newest backup whose restore test did not fail', () => {
    const failed = { verification: { status: 'failed' as const, at: NOW.toISOString() } };
    const all = [manifest('app', 40, failed), manifest('app', 50), manifest('app', 60)];
    const plan = planRetention(all, { retentionDays: 30, keepLast: 1 }, NOW);
    expect(names(plan.keep)).toEqual(['app/2025-09-05', 'app/2025-08-26']);
    expect(names(plan.remove)).toEqual(['app/2025-08-16']);
  });

  it("keeps the target database's newest good backup when a newer safety copy of another database sits beside it", () => {
    const otherFile = backupFileName('otherdb', 'production', new Date(NOW.getTime() - 1 * DAY));
    const safetyCopy = manifest('app', 1, {
      database: 'otherdb',
      filename: otherFile,
      key: dumpKeyFor('app', otherFile),
      trigger: 'pre-restore',
    });
    const all = [safetyCopy, manifest('app', 40), manifest('app', 50)];
    const plan = planRetention(all, { retentionDays: 7, keepLast: 1, database: 'appdb' }, NOW);
    expect(plan.keep.map((item) => `${item.database}/${item.started_at.slice(0, 10)}`)).toEqual([
      'otherdb/2025-10-14',
      'appdb/2025-09-05',
    ]);
    expect(names(plan.remove)).toEqual(['app/2025-08-26']);
  });

  it('applies the rules per target: a target named as a prefix of another is separate', () => {
    const all = [manifest('app', 40), manifest('app', 50), manifest('app2', 45), manifest('app2', 55)];
    const plan = planRetention(all, { retentionDays: 30, keepLast: 1 }, NOW);
    expect(names(plan.keep)).toEqual(['app/2025-09-05', 'app2/2025-08-31']);
    expect(names(plan.remove)).toEqual(['app/2025-08-26', 'app2/2025-08-21']);
  });

  it('keeps everything within the window and backups from the future (clock skew)', () => {
    const all = [manifest('app', -1), manifest('app', 0), manifest('app', 3)];
    const plan = planRetention(all, { retentionDays: 7, keepLast: 1 }, NOW);
    expect(plan.remove).toEqual([]);
    expect(plan.keep).toHaveLength(3);
  });

  it('is empty for no backups', () => {
    expect(planRetention([], { retentionDays: 30, keepLast: 3 }, NOW)).toEqual({ keep: [], remove: [] });
  });
});

describe('applyRetention', () => {
  async function seed() {
    const storage = createMemoryStorage();
    const app = [manifest('app', 1), manifest('app', 40), manifest('app', 50)];
    const app2 = [manifest('app2', 45), manifest('app2', 60)];
    for (const item of [...app, ...app2]) {
      await storage.putBytes(item.key, 'dump');
      await writeManifest(storage, item);
    }
    // Foreign objects and a manifest that lies about its target are never touched.
    await storage.putBytes('app/readme.txt', 'hello');
    const liar = { ...manifest('app2', 80), key: dumpKeyFor('app2', 'x.sql.gz') };
    await storage.putBytes(manifestKeyFor(dumpKeyFor('app', liar.filename)), JSON.stringify(liar));
    return { storage, app, app2 };
  }

  it('deletes the dump, then the manifest, of expired backups under <target>/ only', async () => {
    const { storage, app, app2 } = await seed();
    const before = new Set(storage.objects.keys());
    const outcome = await applyRetention(
      { storage, logger },
      'app',
      { retentionDays: 30, keepLast: 1 },
      { now: NOW },
    );

    expect(outcome.dryRun).toBe(false);
    expect(outcome.failed).toEqual([]);
    expect(names(outcome.kept)).toEqual(['app/2025-10-14']);
    expect(names(outcome.removed)).toEqual(['app/2025-09-05', 'app/2025-08-26']);
    expect(storage.deleted).toEqual([
      app[1]?.key,
      manifestKeyFor(app[1]?.key ?? ''),
      app[2]?.key,
      manifestKeyFor(app[2]?.key ?? ''),
    ]);
    const after = new Set(storage.objects.keys());
    expect([...before].filter((key) => !after.has(key)).sort()).toEqual([...storage.deleted].sort());
    for (const item of app2) expect(storage.objects.has(item.key)).toBe(true);
    expect(storage.objects.has('app/readme.txt')).toBe(true);
  });

  it('only reports in a dry run', async () => {
    const { storage } = await seed();
    const outcome = await applyRetention(
      { storage, logger },
      'app',
      { retentionDays: 30, keepLast: 1 },
      { now: NOW, dryRun: true },
    );
    expect(outcome.dryRun).toBe(true);
    expect(outcome.removed).toHaveLength(2);
    expect(storage.deleted).toEqual([]);
  });

  it('reports a failed deletion and keeps the manifest of that backup', async () => {
    const { storage, app } = await seed();
    const original = storage.delete;
    storage.delete = async (key) => {
      if (key === app[2]?.key) throw new Error('denied');
      return original(key);
    };
    const outcome = await applyRetention(
      { storage, logger },
      'app',
      { retentionDays: 30, keepLast: 1 },
      { now: NOW },
    );
    expect(outcome.failed.map((failure) => failure.manifest.key)).toEqual([app[2]?.key]);
    expect(storage.objects.has(manifestKeyFor(app[2]?.key ?? ''))).toBe(true);
    expect(storage.objects.has(manifestKeyFor(app[1]?.key ?? ''))).toBe(false);
  });
});
