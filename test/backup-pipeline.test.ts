import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BackupTargetSpec, createSpooledBackup, runBackup, uploadSpooledBackup } from '@warden/backup';
import { listBackups, toBackupResult } from '@warden/catalog';
import { createLogger } from '@warden/logging';
import { type BackupStorage, createLocalStorage } from '@warden/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDatabase,
  createTestDatabase,
  dropDatabase,
  manifestRowCounts,
  restorePlainDump,
  sequenceValues,
  type TestDatabase,
  tableFingerprints,
  tableRowCounts,
  targetSpecFor,
  uniqueDatabaseName,
  withClient,
} from './helpers/pg-fixtures.js';
import { commandAvailable } from './helpers/processes.js';

const logger = createLogger({ service: 'backup-pipeline-test', level: 'silent' });
const hasZstd = commandAvailable('zstd');

let db: TestDatabase;
let work: string;
let spoolDir: string;
let storage: BackupStorage;
const scratch: string[] = [];

function targetFor(database: TestDatabase, name = 'pipeline'): BackupTargetSpec {
  return targetSpecFor(database, { name, keepLast: 3 });
}

async function download(key: string, path: string): Promise<Buffer> {
  const bytes = await storage.readBytes(key);
  await writeFile(path, bytes);
  return bytes;
}

async function restoreInto(file: string): Promise<string> {
  const name = await createDatabase(uniqueDatabaseName('warden_restore'));
  scratch.push(name);
  await restorePlainDump(file, name);
  return name;
}

beforeAll(async () => {
  db = await createTestDatabase({ prefix: 'warden_bk' });
  work = await mkdtemp(join(tmpdir(), 'warden-backup-pipeline-'));
  spoolDir = join(work, 'spool');
  storage = createLocalStorage({ dir: join(work, 'store') });
});

afterAll(async () => {
  await db?.drop();
  for (const name of scratch) await dropDatabase(name);
  await storage?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('backup pipeline against a real database', () => {
  it('dumps, compresses, integrity-checks, uploads and restores identically (gzip)', async () => {
    expect(db.seed?.totalRows).toBeGreaterThanOrEqual(100_000);
    const phases = new Set<string>();
    let lastPercent = -1;
    let monotonic = true;
    const manifest = await runBackup(
      { storage, logger },
      {
        target: targetFor(db),
        spoolDir,
        minFreeBytes: 1024 * 1024,
        compression: 'gzip',
        gzipLevel: 6,
        rowCounts: true,
        pgDumpPath: 'pg_dump',
        timeoutMs: 120_000,
        trigger: 'test',
        jobId: 'job-1',
        uploadRetryAttempts: 3,
        uploadRetryDelayMs: 10,
        onProgress: (progress) => {
          phases.add(progress.phase);
          if (progress.phase === 'dump') {
            if (progress.percent < lastPercent) monotonic = false;
            lastPercent = progress.percent;
            expect(progress.percent).toBeLessThanOrEqual(99);
          }
        },
      },
    );

    expect([...phases]).toEqual(['preflight', 'dump', 'verify']);
    expect(monotonic).toBe(true);
    expect(manifest.filename).toMatch(new RegExp(`^${db.name}_test_\\d{8}_\\d{6}\\.sql\\.gz$`));
    expect(manifest.key).toBe(`pipeline/${manifest.filename}`);
    expect(manifest.location).toBe(storage.describe(manifest.key));
    expect(manifest.trigger).toBe('test');
    expect(manifest.job_id).toBe('job-1');
    expect(manifest.server_version).toMatch(/^\d+\.\d+/);
    expect(manifest.pg_dump_version).toMatch(/^\d+\.\d+/);
    expect(manifest.sql_bytes).toBeGreaterThan(manifest.bytes);

    // The spool is emptied only after the stored-object check passed.
    expect(await readdir(spoolDir)).toEqual([]);

    const file = join(work, manifest.filename);
    const stored = await download(manifest.key, file);
    expect(stored.length).toBe(manifest.bytes);
    expect(createHash('sha256').update(stored).digest('hex')).toBe(manifest.sha256);
    execFileSync('gzip', ['-t', file]);

    // Row counts were taken in the dump's snapshot.
    expect(manifest.row_counts_source).toBe('snapshot');
    expect(manifestRowCounts(manifest)).toEqual(await tableRowCounts(db.name));
    expect(manifestRowCounts(manifest)).toMatchObject(db.seed?.rows ?? {});
    expect(manifest.schema_objects).toMatchObject({
      schemas: 3,
      tables: 5,
      views: 1,
      materialized_views: 1,
      sequences: 4,
      functions: 1,
      triggers: 1,
    });

    // The catalog is the set of manifests in storage.
    const listed = await listBackups(storage, { target: 'pipeline' });
    expect(listed).toEqual([manifest]);
    const result = toBackupResult(manifest);
    expect(result).toMatchObject({
      status: 'success',
      filename: manifest.filename,
      target: 'pipeline',
      environment: 'test',
      bytes: manifest.bytes,
      sha256: manifest.sha256,
      location: manifest.location,
    });
    expect(result.size_mb).toBe(Math.round((manifest.bytes / 1024 / 1024) * 100) / 100);

    const restored = await restoreInto(file);
    expect(await tableFingerprints(restored)).toEqual(await tableFingerprints(db.name));
    expect(await sequenceValues(restored)).toEqual(await sequenceValues(db.name));
  });

  it.skipIf(!hasZstd)('round-trips in zstd mode', async () => {
    const spooled = await createSpooledBackup(
      { logger },
      {
        target: targetFor(db, 'pipeline-zstd'),
        spoolDir,
        minFreeBytes: 1024 * 1024,
        compression: 'zstd',
        gzipLevel: 6,
        rowCounts: true,
        pgDumpPath: 'pg_dump',
        timeoutMs: 120_000,
      },
    );
    expect(spooled.manifest.location).toBe('');
    expect(spooled.manifest.filename).toMatch(/\.sql\.zst$/);
    expect(spooled.manifest.compression).toBe('zstd');
    expect(await readdir(spoolDir)).toEqual([spooled.spoolPath.slice(spoolDir.length + 1)]);

    const manifest = await uploadSpooledBackup({ storage, logger }, spooled);
    expect(await readdir(spoolDir)).toEqual([]);
    const file = join(work, manifest.filename);
    const stored = await download(manifest.key, file);
    expect(createHash('sha256').update(stored).digest('hex')).toBe(manifest.sha256);
    execFileSync('zstd', ['-t', '-q', file]);

    const restored = await restoreInto(file);
    expect(await tableFingerprints(restored)).toEqual(await tableFingerprints(db.name));
  });

  it('records statistics estimates when exact row counts are off', async () => {
    const spooled = await createSpooledBackup(
      { logger },
      {
        target: targetFor(db, 'pipeline-stats'),
        spoolDir,
        minFreeBytes: 1024 * 1024,
        compression: 'gzip',
        gzipLevel: 1,
        rowCounts: false,
        pgDumpPath: 'pg_dump',
        timeoutMs: 120_000,
      },
    );
    await rm(spooled.spoolPath);
    expect(spooled.manifest.row_counts_source).toBe('statistics');
    const exact = await tableRowCounts(db.name);
    for (const [table, rows] of Object.entries(exact)) {
      const estimate = manifestRowCounts(spooled.manifest)[table];
      expect(estimate, table).toBeDefined();
      expect(Math.abs((estimate ?? 0) - rows), table).toBeLessThanOrEqual(Math.max(10, rows * 0.1));
    }
  });

  it('counts rows in the same snapshot pg_dump dumps', async () => {
    // A pg_dump wrapper that holds off until the test has committed more rows: the snapshot was
    // already exported, so neither the counts nor the dump may contain them.
    const gate = await mkdtemp(join(work, 'gate-'));
    const wrapper = join(gate, 'pg_dump');
    await writeFile(
      wrapper,
      `#!/bin/sh
if [ "$1" = "--version" ]; then exec pg_dump --version; fi
touch '${gate}/started'
i=0
while [ ! -f '${gate}/go' ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
exec pg_dump "$@"
`,
    );
    await chmod(wrapper, 0o755);
    const before = await tableRowCounts(db.name);

    const running = createSpooledBackup(
      { logger },
      {
        target: targetFor(db, 'pipeline-snapshot'),
        spoolDir,
        minFreeBytes: 1024 * 1024,
        compression: 'gzip',
        gzipLevel: 1,
        rowCounts: true,
        pgDumpPath: wrapper,
        timeoutMs: 120_000,
      },
    );
    const deadline = Date.now() + 30_000;
    while (!(await readdir(gate)).includes('started')) {
      if (Date.now() > deadline) throw new Error('wrapper never started');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await withClient(db.name, (client) =>
      client.query(
        `INSERT INTO audit.events (happened_at, actor, payload) SELECT now(), 'late', '{}'::jsonb FROM generate_series(1, 500)`,
      ),
    );
    await writeFile(join(gate, 'go'), '');
    const spooled = await running;

    expect(manifestRowCounts(spooled.manifest)).toEqual(before);
    const file = join(work, 'snapshot.sql.gz');
    await writeFile(file, await readFile(spooled.spoolPath));
    await rm(spooled.spoolPath);
    const restored = await restoreInto(file);
    expect(await tableRowCounts(restored)).toEqual(before);
    expect((await tableRowCounts(db.name))['audit.events']).toBe((before['audit.events'] ?? 0) + 500);
    await withClient(db.name, (client) => client.query(`DELETE FROM audit.events WHERE actor = 'late'`));
  });
});
