/**
 * `GET /api/admin/fleet` at fleet size, on real local storage and on s3rver: a load reads only the
 * manifests its rows need (the newest ones of each target), a repeated load reads none that did not
 * change, and a restore-test verdict written later is read again and shows. The rows stay the ones
 * the summary gives over every manifest in the store.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type BackupManifest, listBackups, manifestKeyFor, writeManifest } from '@warden/catalog';
import type { BackupTarget } from '@warden/config';
import { type BackupStorage, createLocalStorage, createS3Storage } from '@warden/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLEET_READ_LIMIT, type FleetRow, summariseFleet, TREND_LENGTH } from '../apps/api/src/fleet.js';
import { bearer, createApiFixture, makeManifest, makeTarget } from './helpers/api-fixtures.js';
import { countingReads } from './helpers/counting-storage.js';
import { type S3TestServer, s3rverStorageOptions, startS3Server } from './helpers/s3-server.js';

const BUCKET = 'fleet-catalog';
/** Manifests a target's row may read beyond the ones it needs: the rest of a read-ahead round. */
const READ_AHEAD = 8;
let s3: S3TestServer;

beforeAll(async () => {
  s3 = await startS3Server({ buckets: [BUCKET] });
});
afterAll(async () => {
  await s3?.stop();
});

const busy = makeTarget('busy');
const small = makeTarget('small');
const untested = makeTarget('untested');
const empty = makeTarget('empty');
const targets = [busy, small, untested, empty];
const start = Date.parse('2026-06-01T00:00:00Z');

/** The parts of a row that come from the catalog (jobs, schedules and failures do not). */
const catalogPart = (row: FleetRow) => ({
  name: row.name,
  status: row.status,
  reasons: row.reasons,
  lastBackup: row.lastBackup,
  trend: row.trend,
  restoreTest: row.restoreTest,
});

async function writeBackups(storage: BackupStorage, target: BackupTarget, count: number, offset = 0) {
  const written: BackupManifest[] = [];
  for (let index = 0; index < count; index += 1) {
    const manifest = makeManifest(target, new Date(start + (offset + index) * 60_000), storage);
    await writeManifest(storage, manifest);
    written.push(manifest);
  }
  return written.reverse();
}

/** What the summary gives over every manifest in the store: the rows before reads were bounded. */
async function expectedRows(storage: BackupStorage, restoreVerifyEnabled: boolean) {
  return summariseFleet({
    targets,
    backupEnabled: true,
    restoreVerifyEnabled,
    manifests: await listBackups(storage),
    nextRuns: new Map(),
    jobs: new Map(),
    failures: new Map(),
    graceMs: 2 * 3600 * 1000,
    now: new Date(),
  }).map(catalogPart);
}

describe.each([
  {
    kind: 'local storage',
    async make() {
      const dir = await mkdtemp(path.join(tmpdir(), 'warden-fleet-catalog-'));
      return {
        storage: createLocalStorage({ dir }),
        cleanup: () => rm(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    kind: 's3rver',
    async make() {
      const prefix = `run-${randomBytes(4).toString('hex')}/`;
      return {
        storage: createS3Storage(s3rverStorageOptions(s3.endpoint, BUCKET, prefix)),
        cleanup: async () => {},
      };
    },
  },
])('GET /api/admin/fleet on $kind', ({ make }) => {
  it('reads the newest manifests a row needs, then only those written or changed since', async () => {
    const { storage, cleanup } = await make();
    const counted = countingReads(storage);
    const fixture = await createApiFixture({ name: 'fleet-catalog', targets, storage: counted.storage });
    try {
      const restoreVerifyEnabled = fixture.config.restoreVerify.enabled;
      const busyBackups = await writeBackups(storage, busy, 100);
      // The third newest passed a restore test: the row needs it and the 20 newest good backups.
      const tested = busyBackups[2] as BackupManifest;
      await writeManifest(storage, {
        ...tested,
        verification: { status: 'passed', at: new Date().toISOString() },
      });
      await writeBackups(storage, small, 3);
      // A safety copy (of another database, under the target's prefix) and an object that is no manifest.
      const safety = makeManifest({ ...small, database: 'other' }, new Date(start + 10 * 60_000), storage);
      await writeManifest(storage, { ...safety, trigger: 'pre-restore' });
      await storage.putBytes(manifestKeyFor(`small/small_test_20260601_000900.sql.gz`), 'not json');
      await writeBackups(storage, untested, FLEET_READ_LIMIT + 20);

      const load = async () => {
        counted.reset();
        const response = await fixture.app.inject({
          method: 'GET',
          url: '/api/admin/fleet',
          headers: bearer(),
        });
        expect(response.statusCode).toBe(200);
        const rows = (response.json() as { targets: FleetRow[] }).targets.map(catalogPart);
        expect(rows).toEqual(await expectedRows(storage, restoreVerifyEnabled));
        return { rows, keysRead: [...counted.keysRead] };
      };
      const readsOf = (keys: string[], target: BackupTarget) =>
        keys.filter((key) => key.startsWith(`${target.name}/`)).length;

      const first = await load();
      // The verdict is among the 20 newest: exactly those are read.
      expect(readsOf(first.keysRead, busy)).toBe(TREND_LENGTH);
      expect(readsOf(first.keysRead, small)).toBe(5);
      // Never restore-tested: read up to the cap, not all of them.
      expect(readsOf(first.keysRead, untested)).toBeGreaterThanOrEqual(FLEET_READ_LIMIT);
      expect(readsOf(first.keysRead, untested)).toBeLessThan(FLEET_READ_LIMIT + READ_AHEAD);
      const busyRow = first.rows.find((row) => row.name === 'busy');
      expect(busyRow?.trend).toHaveLength(TREND_LENGTH);
      expect(busyRow?.restoreTest?.file).toBe(tested.filename);

      // The console reloads: nothing changed, nothing is read.
      expect((await load()).keysRead).toEqual([]);

      // A restore test of the newest backup rewrites its manifest: that one is read again.
      const newest = busyBackups[0] as BackupManifest;
      const at = new Date().toISOString();
      await writeManifest(storage, { ...newest, verification: { status: 'passed', at } });
      const afterPass = await load();
      expect(afterPass.keysRead).toEqual([manifestKeyFor(newest.key)]);
      expect(afterPass.rows.find((row) => row.name === 'busy')?.restoreTest).toEqual({
        status: 'passed',
        at,
        file: newest.filename,
      });

      // Rewritten again with a verdict of the same size: the listing still tells it changed.
      await writeManifest(storage, { ...newest, verification: { status: 'failed', at } });
      const afterFail = await load();
      // A failed backup leaves the trend: the next older one, never needed before, is read too.
      expect(afterFail.keysRead).toEqual(
        [newest, busyBackups[TREND_LENGTH]].map((item) => manifestKeyFor(item?.key ?? '')),
      );
      const failed = afterFail.rows.find((row) => row.name === 'busy');
      expect(failed?.status).toBe('failing');
      expect(failed?.reasons).toContain(`restore test of ${newest.filename} failed`);
      expect(failed?.lastBackup?.filename).toBe(busyBackups[1]?.filename);

      // A new backup costs its own manifest.
      const [fresh] = await writeBackups(storage, small, 1, 500);
      const afterBackup = await load();
      expect(afterBackup.keysRead).toEqual([manifestKeyFor((fresh as BackupManifest).key)]);
      expect(afterBackup.rows.find((row) => row.name === 'small')?.lastBackup?.filename).toBe(
        fresh?.filename,
      );
    } finally {
      await fixture.close();
      await cleanup();
    }
  });
});
