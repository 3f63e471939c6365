/**
 * Local backups hold whole databases: under the usual umask 022, nothing local storage writes may be
 * readable by other users. Checked on the mode bits, and (when the tests run as root) by reading as
 * `nobody` for real; a real backup:create process writes the tree the second test checks.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createLocalStorage } from '@warden/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/pg-fixtures.js';
import { startWardenProcess, testEnv } from './helpers/processes.js';

let workDir: string;
let database: TestDatabase;
let umaskBefore: number;
const asRoot = process.getuid?.() === 0;

/** Every folder and file under `root` (the root included) with its permission bits. */
function modesUnder(root: string): Map<string, { mode: number; dir: boolean }> {
  const found = new Map<string, { mode: number; dir: boolean }>();
  const visit = (current: string) => {
    const info = lstatSync(current);
    found.set(path.relative(root, current) || '.', { mode: info.mode & 0o777, dir: info.isDirectory() });
    if (info.isDirectory()) for (const name of readdirSync(current)) visit(path.join(current, name));
  };
  visit(root);
  return found;
}

/** Whether the user `nobody` can list (folders) or read (files) `target`. */
function nobodyCanRead(target: string, dir: boolean): boolean {
  const run = spawnSync('runuser', ['-u', 'nobody', '--', dir ? 'ls' : 'cat', target], { stdio: 'ignore' });
  return run.status === 0;
}

function expectPrivate(root: string, expected: { file: number; dir: number }) {
  const entries = modesUnder(root);
  expect([...entries.values()].some((entry) => !entry.dir)).toBe(true);
  for (const [name, entry] of entries) {
    expect({ name, mode: entry.mode.toString(8) }).toEqual({
      name,
      mode: (entry.dir ? expected.dir : expected.file).toString(8),
    });
    if (asRoot)
      expect({ name, readable: nobodyCanRead(path.join(root, name), entry.dir) }).toEqual({
        name,
        readable: false,
      });
  }
}

beforeAll(async () => {
  umaskBefore = process.umask(0o022);
  workDir = await mkdtemp(path.join(tmpdir(), 'warden-modes-'));
  // The test's own folder is open to everyone, so only the modes Warden sets keep others out.
  chmodSync(workDir, 0o755);
  database = await createTestDatabase({ prefix: 'warden_modes', seed: { orders: 100 } });
});

afterAll(async () => {
  process.umask(umaskBefore);
  await database?.drop();
  await rm(workDir, { recursive: true, force: true });
});

describe('local storage under umask 022', () => {
  it('writes files 0600 in folders 0700 with every kind of write, and tightens folders an older version left open', async () => {
    const root = path.join(workDir, 'direct');
    const storage = createLocalStorage({ dir: root });
    const source = path.join(workDir, 'source.bin');
    writeFileSync(source, randomBytes(4096), { mode: 0o644 });
    await storage.putFile('shop/shop_production_20251015_121644.sql.gz', source);
    await storage.putBytes('shop/shop_production_20251015_121644.sql.gz.manifest.json', '{}');
    await storage.putStream('deep/er/object', Readable.from([randomBytes(1000)]));
    expectPrivate(root, { file: 0o600, dir: 0o700 });

    // A target folder made 0755 by an earlier version is Warden's own: the next write closes it.
    mkdirSync(path.join(root, 'legacy'), { mode: 0o755 });
    chmodSync(path.join(root, 'legacy'), 0o755);
    await storage.putBytes('legacy/new-object', 'x');
    expectPrivate(root, { file: 0o600, dir: 0o700 });
    expect(readdirSync(root).sort()).toEqual(['deep', 'legacy', 'shop']);
  });

  it('lets the group read with BACKUP_DIR_GROUP_READABLE, never others', async () => {
    const root = path.join(workDir, 'group');
    const storage = createLocalStorage({ dir: root, groupReadable: true });
    await storage.putBytes('shop/a.sql.gz', 'dump');
    await storage.putStream('shop/b.sql.gz', Readable.from([Buffer.from('dump')]));
    expectPrivate(root, { file: 0o640, dir: 0o750 });
  });

  it('a real backup:create leaves nothing readable by others in the backup or spool folder', async () => {
    const backupDir = path.join(workDir, 'cli-backups');
    const spoolDir = path.join(workDir, 'cli-spool');
    for (const [env, expected] of [
      [{}, { file: 0o600, dir: 0o700 }],
      [{ BACKUP_DIR_GROUP_READABLE: 'true' }, { file: 0o640, dir: 0o750 }],
    ] as const) {
      await rm(backupDir, { recursive: true, force: true });
      const cli = startWardenProcess(
        'apps/worker/src/cli/backup-create.ts',
        testEnv({
          DATABASE_URL: database.url,
          BACKUP_ENVIRONMENT: 'modes',
          BACKUP_DIR: backupDir,
          BACKUP_SPOOL_DIR: spoolDir,
          BACKUP_MIN_FREE_MB: '0',
          ...env,
        }),
      );
      expect(await cli.exited).toBe(0);
      const files = [...modesUnder(backupDir).entries()].filter(([, entry]) => !entry.dir);
      expect(files.map(([name]) => name.replace(/\d{8}_\d{6}/, 'TS')).sort()).toEqual([
        `${database.name}/${database.name}_modes_TS.sql.gz`,
        `${database.name}/${database.name}_modes_TS.sql.gz.manifest.json`,
      ]);
      expectPrivate(backupDir, expected);
      expect(modesUnder(spoolDir).get('.')?.mode).toBe(0o700);
      // The stored dump is a real one.
      execFileSync('gzip', ['-t', path.join(backupDir, files[0]?.[0] ?? '')]);
    }
  });
});
