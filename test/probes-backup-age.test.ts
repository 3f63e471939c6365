import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  backupFileName,
  dumpKeyFor,
  manifestKeyFor,
  SAFETY_COPY_TRIGGER,
  writeManifest,
} from '@warden/catalog';
import { probeBackups } from '@warden/probes';
import { type BackupStorage, createLocalStorage } from '@warden/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackupFreshnessSource } from '../apps/api/src/backup-freshness.js';
import { makeManifest, makeTarget, storeBackup } from './helpers/api-fixtures.js';
import { countingReads } from './helpers/counting-storage.js';

const HOUR = 3600_000;

describe('backup-age probe reads the latest good backup from the catalog', () => {
  let dir: string;
  let storage: BackupStorage;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'warden-backup-age-'));
    storage = createLocalStorage({ dir });
  });
  afterAll(async () => {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("ignores another database's safety copy, a safety copy of its own and a backup whose restore test failed", async () => {
    // A daily schedule whose last run was two hours ago; the target's own backup is older than that.
    const lastRun = new Date(Date.now() - 2 * HOUR);
    const target = makeTarget('agecheck', {
      database: 'appdb',
      schedule: `${lastRun.getUTCMinutes()} ${lastRun.getUTCHours()} * * *`,
    });
    const own = makeManifest(target, new Date(Date.now() - 3 * HOUR), storage);
    await storeBackup(storage, own);

    // A restore with overwrite into database "otherdb" of the same server took a safety copy of it,
    // stored under the target's prefix a minute ago.
    const otherAt = new Date(Date.now() - 60_000);
    const otherFile = backupFileName('otherdb', target.environment, otherAt);
    await storeBackup(storage, {
      ...makeManifest(target, otherAt, storage),
      database: 'otherdb',
      filename: otherFile,
      key: dumpKeyFor(target.name, otherFile),
      trigger: SAFETY_COPY_TRIGGER,
    });
    // A safety copy of the target's own database is no scheduled backup either.
    await storeBackup(storage, {
      ...makeManifest(target, new Date(Date.now() - 50_000), storage),
      trigger: SAFETY_COPY_TRIGGER,
    });
    // Nor is a backup that a restore test proved broken.
    await storeBackup(storage, {
      ...makeManifest(target, new Date(Date.now() - 40_000), storage),
      verification: {
        status: 'failed',
        at: new Date().toISOString(),
        problems: ['table public.items is missing'],
      },
    });

    const result = await probeBackups(createBackupFreshnessSource(storage, [target]), {
      timeoutMs: 10_000,
      graceMs: 0,
    });
    const freshness = (result.targets as Record<string, { status: string; last_success_at?: string }>)[
      target.name
    ];
    expect(freshness?.last_success_at).toBe(own.finished_at);
    expect(freshness?.status).toBe('degraded');
    expect(result.status).toBe('degraded');
  });

  it('reads, cycle after cycle, only the manifests written or rewritten since', async () => {
    const target = makeTarget('agecycles', { schedule: '0 3 * * *' });
    const older = makeManifest(target, new Date(Date.now() - 30 * HOUR), storage);
    const newest = makeManifest(target, new Date(Date.now() - 2 * HOUR), storage);
    for (const manifest of [older, newest]) await storeBackup(storage, manifest);
    const counted = countingReads(storage);
    const source = createBackupFreshnessSource(counted.storage, [target]);
    const lastSuccess = async () => {
      counted.reset();
      const result = await probeBackups(source, { timeoutMs: 10_000, graceMs: 0 });
      return (result.targets as Record<string, { last_success_at?: string }>)[target.name]?.last_success_at;
    };

    expect(await lastSuccess()).toBe(newest.finished_at);
    expect(counted.keysRead).toEqual([manifestKeyFor(newest.key)]);
    expect(await lastSuccess()).toBe(newest.finished_at);
    expect(counted.keysRead).toEqual([]);

    // A restore test failed the newest: its rewritten manifest is read again, then the older one.
    await writeManifest(storage, {
      ...newest,
      verification: { status: 'failed', at: new Date().toISOString() },
    });
    expect(await lastSuccess()).toBe(older.finished_at);
    expect(counted.keysRead).toEqual([newest, older].map((manifest) => manifestKeyFor(manifest.key)));
  });
});
