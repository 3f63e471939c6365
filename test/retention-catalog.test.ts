import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyRetention,
  type BackupManifest,
  backupFileName,
  dumpKeyFor,
  manifestKeyFor,
  writeManifest,
} from '@warden/catalog';
import { createLogger } from '@warden/logging';
import { type BackupStorage, createLocalStorage } from '@warden/storage';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { type CliRun, runWardenCli, testEnv } from './helpers/processes.js';

const logger = createLogger({ service: 'retention-catalog-test', level: 'silent' });
const DAY = 24 * 60 * 60 * 1000;

let work: string;
let storeDir: string;
let storage: BackupStorage;
let configFile: string;
const seeded: Record<string, BackupManifest[]> = {};

function manifest(target: string, startedAt: Date, extra: Partial<BackupManifest> = {}): BackupManifest {
  const filename = backupFileName(`${target.replace('-', '_')}db`, 'production', startedAt);
  return {
    formatVersion: 1,
    status: 'success',
    target,
    environment: 'production',
    database: `${target.replace('-', '_')}db`,
    filename,
    key: dumpKeyFor(target, filename),
    bytes: 4,
    size_mb: 0,
    sha256: 'b'.repeat(64),
    sql_bytes: 4,
    compression: 'gzip',
    started_at: startedAt.toISOString(),
    finished_at: startedAt.toISOString(),
    duration_ms: 1,
    location: '',
    server_version: '15.20',
    pg_dump_version: '15.20',
    host: 'test',
    ...extra,
  };
}

const daysAgo = (days: number) => new Date(Date.now() - days * DAY - 60_000);
const passed = { verification: { status: 'passed' as const, at: new Date().toISOString() } };

/**
 * `app` (30 days, keep 1): relative ages, the 50-day-old one restore-tested.
 * `app2` (a name `app` is a prefix of; 7 days, monthly 3, weekly overridden to 0): fixed 2020 dates.
 * `app-eu` (30 days, weekly 2 from the environment): fixed 2020 dates.
 */
async function seed(): Promise<void> {
  await rm(storeDir, { recursive: true, force: true });
  seeded.app = [
    manifest('app', daysAgo(1)),
    manifest('app', daysAgo(10)),
    manifest('app', daysAgo(40)),
    manifest('app', daysAgo(50), passed),
    manifest('app', daysAgo(60)),
    manifest('app', daysAgo(70)),
  ];
  seeded.app2 = ['2020-01-15', '2020-02-15', '2020-03-01', '2020-03-15', '2020-04-08', '2020-04-15'].map(
    (day) => manifest('app2', new Date(`${day}T03:00:00Z`)),
  );
  seeded['app-eu'] = ['2020-06-01', '2020-06-03', '2020-06-10', '2020-06-17'].map((day) =>
    manifest('app-eu', new Date(`${day}T03:00:00Z`)),
  );
  for (const item of Object.values(seeded).flat()) {
    await storage.putBytes(item.key, 'dump');
    await writeManifest(storage, item);
  }
  // Not backups: never touched by retention.
  await storage.putBytes('app/notes.txt', 'keep');
  await storage.putBytes('app/app_manual_20000101_000000.sql.gz', 'no manifest');
}

async function keys(): Promise<string[]> {
  return (await storage.list('')).map((object) => object.key).sort();
}

function objectsOf(items: BackupManifest[]): string[] {
  return items.flatMap((item) => [item.key, manifestKeyFor(item.key)]);
}

const pick = (target: string, indexes: number[]) =>
  indexes.map((index) => seeded[target]?.[index] as BackupManifest);
const EXPECTED_REMOVED = {
  app: () => pick('app', [2, 4, 5]),
  app2: () => pick('app2', [4, 2, 0]),
  'app-eu': () => pick('app-eu', [1, 0]),
};

function runPrune(args: string[]): Promise<CliRun> {
  return runWardenCli(
    'apps/worker/src/cli/backup-prune.ts',
    args,
    testEnv({
      WARDEN_CONFIG: configFile,
      BACKUP_DIR: storeDir,
      BACKUP_KEEP_WEEKLY: '2',
      LOG_LEVEL: 'info',
    }),
  );
}

function parseLines(
  stdout: string,
): Record<string, { removed: string[]; kept: { filename: string; reasons: string[] }[] }> {
  return Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
      .map((entry) => [entry.target, entry]),
  );
}

beforeEach(async () => {
  work ??= await mkdtemp(join(tmpdir(), 'warden-retention-'));
  storeDir = join(work, 'store');
  storage = createLocalStorage({ dir: storeDir });
  configFile = join(work, 'targets.yml');
  await writeFile(
    configFile,
    [
      'targets:',
      '  - name: app',
      '    url: postgres://postgres@127.0.0.1:5432/appdb',
      '    retentionDays: 30',
      '  - name: app2',
      '    url: postgres://postgres@127.0.0.1:5432/app2db',
      '    retentionDays: 7',
      '    keepMonthly: 3',
      '    keepWeekly: 0',
      '  - name: app-eu',
      '    url: postgres://postgres@127.0.0.1:5432/app_eudb',
      '    retentionDays: 30',
      '',
    ].join('\n'),
  );
  await seed();
});

afterAll(async () => {
  await storage?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('retention on a seeded catalog', () => {
  it('applyRetention of "app" deletes exactly its expired backups and nothing under app2/ or app-eu/', async () => {
    const before = await keys();
    const dry = await applyRetention(
      { storage, logger },
      'app',
      { retentionDays: 30, keepLast: 1 },
      { dryRun: true },
    );
    const expected = EXPECTED_REMOVED.app();
    expect(dry.removed.map((item) => item.filename)).toEqual(expected.map((item) => item.filename));
    expect(dry.reasons[seeded.app?.[3]?.key ?? '']).toEqual(['newest-verified']);
    expect(await keys()).toEqual(before);

    const real = await applyRetention({ storage, logger }, 'app', { retentionDays: 30, keepLast: 1 });
    expect(real.failed).toEqual([]);
    expect(real.removed.map((item) => item.filename)).toEqual(expected.map((item) => item.filename));
    const after = new Set(await keys());
    expect(before.filter((key) => !after.has(key)).sort()).toEqual(objectsOf(expected).sort());
  });

  it('npm run backup:prune -- --dry-run lists what would go for every target and deletes nothing', async () => {
    const before = await keys();
    const run = await runPrune(['--dry-run']);
    expect(run.code, run.stderr).toBe(0);
    const byTarget = parseLines(run.stdout);
    expect(Object.keys(byTarget).sort()).toEqual(['app', 'app-eu', 'app2']);
    for (const [target, removed] of Object.entries(EXPECTED_REMOVED)) {
      expect(byTarget[target]?.removed, target).toEqual(removed().map((item) => item.filename));
    }
    // Per-target override (app2: monthly 3, weekly 0) and the environment's weekly 2 (app-eu).
    const app2Kept = Object.fromEntries(
      byTarget.app2?.kept.map((entry) => [entry.filename, entry.reasons]) ?? [],
    );
    expect(app2Kept[seeded.app2?.[1]?.filename ?? '']).toEqual(['monthly']);
    const euKept = Object.fromEntries(
      byTarget['app-eu']?.kept.map((entry) => [entry.filename, entry.reasons]) ?? [],
    );
    expect(euKept[seeded['app-eu']?.[2]?.filename ?? '']).toEqual(['weekly']);
    expect(await keys()).toEqual(before);
  });

  it('npm run backup:prune -- --target app2 deletes exactly the expected objects of that target only', async () => {
    const before = await keys();
    const run = await runPrune(['--target', 'app2']);
    expect(run.code, run.stderr).toBe(0);
    const byTarget = parseLines(run.stdout);
    expect(Object.keys(byTarget)).toEqual(['app2']);
    const expected = EXPECTED_REMOVED.app2();
    expect(byTarget.app2?.removed).toEqual(expected.map((item) => item.filename));
    const after = new Set(await keys());
    expect(before.filter((key) => !after.has(key)).sort()).toEqual(objectsOf(expected).sort());
  });

  it('npm run backup:prune (all targets) deletes exactly the expected objects and leaves foreign files', async () => {
    const before = await keys();
    const run = await runPrune([]);
    expect(run.code, run.stderr).toBe(0);
    const expected = Object.values(EXPECTED_REMOVED).flatMap((removed) => removed());
    const after = await keys();
    expect(before.filter((key) => !after.includes(key)).sort()).toEqual(objectsOf(expected).sort());
    expect(after).toContain('app/notes.txt');
    expect(after).toContain('app/app_manual_20000101_000000.sql.gz');
    // A second run finds nothing more to delete.
    const again = parseLines((await runPrune([])).stdout);
    for (const entry of Object.values(again)) expect(entry.removed).toEqual([]);
  });

  it('refuses an unknown target', async () => {
    const run = await runPrune(['--target', 'ap']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/unknown target "ap"/);
  });
});
