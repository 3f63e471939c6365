import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { type BackupTargetSpec, createSpooledBackup, runBackup } from '@warden/backup';
import { listBackups } from '@warden/catalog';
import { BackupError } from '@warden/errors';
import { createLogger } from '@warden/logging';
import { type BackupStorage, createS3Storage } from '@warden/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase, targetSpecFor } from './helpers/pg-fixtures.js';
import { commandAvailable } from './helpers/processes.js';
import {
  S3RVER_CREDENTIALS,
  S3RVER_REGION,
  type S3TestServer,
  s3rverStorageOptions,
  startS3Server,
} from './helpers/s3-server.js';

const logger = createLogger({ service: 'backup-speed-test', level: 'silent' });
const hasZstd = commandAvailable('zstd');
const hasIgzip = commandAvailable('igzip');
const hasPigz = commandAvailable('pigz');

let db: TestDatabase;
let work: string;
let bin: string;
let s3: S3TestServer;
let bucketCount = 0;

function target(): BackupTargetSpec {
  return targetSpecFor(db, { name: 'speedy', keepLast: 3 });
}

async function script(name: string, body: string): Promise<string> {
  const path = join(bin, name);
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, 0o755);
  return path;
}

/** A fresh bucket per test: `list('')` then shows exactly what that test left behind. */
async function freshS3Storage(): Promise<BackupStorage> {
  const bucket = `speed${++bucketCount}`;
  const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: S3RVER_REGION,
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
  });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  client.destroy();
  return createS3Storage(s3rverStorageOptions(s3.endpoint, bucket));
}

/** Counts how the pipeline reached the store. */
function observed(storage: BackupStorage, overrides: Partial<BackupStorage> = {}) {
  const calls = { putStream: 0, putFile: 0 };
  const wrapped: BackupStorage = {
    ...storage,
    location: storage.location,
    describe: (key) => storage.describe(key),
    putStream: (key, body, options) => {
      calls.putStream++;
      return (overrides.putStream ?? storage.putStream)(key, body, options);
    },
    putFile: (key, file, options) => {
      calls.putFile++;
      return storage.putFile(key, file, options);
    },
    putBytes: (key, body, options) => storage.putBytes(key, body, options),
    head: (key) => storage.head(key),
    list: (prefix) => storage.list(prefix),
    read: (key) => storage.read(key),
    readBytes: (key) => storage.readBytes(key),
    delete: (key) => storage.delete(key),
    close: () => storage.close(),
  };
  return { storage: wrapped, calls };
}

const baseOptions = () => ({
  target: target(),
  minFreeBytes: 1024 * 1024,
  gzipLevel: 3,
  timeoutMs: 60_000,
  uploadRetryAttempts: 2,
  uploadRetryDelayMs: 1,
});

beforeAll(async () => {
  db = await createTestDatabase({ prefix: 'warden_bkspeed', seed: { orders: 8000 } });
  work = await mkdtemp(join(tmpdir(), 'warden-backup-speed-'));
  bin = join(work, 'bin');
  await mkdir(bin);
  s3 = await startS3Server({ buckets: ['unused'] });
});

afterAll(async () => {
  await db?.drop();
  await s3?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('in-process parallel gzip (no pigz)', () => {
  it('writes a gzip file that the system gunzip reads whole, integrity-checked while written', async () => {
    const spoolDir = join(work, 'spool-zlib');
    const spooled = await createSpooledBackup({ logger }, { ...baseOptions(), spoolDir, gzipEngine: 'zlib' });
    execFileSync('gzip', ['-t', spooled.spoolPath]);
    const sql = execFileSync('gzip', ['-dc', spooled.spoolPath], { maxBuffer: 256 * 1024 * 1024 });
    expect(sql.length).toBe(spooled.manifest.sql_bytes);
    expect(sql.subarray(-4096).toString()).toContain('PostgreSQL database dump complete');
    await rm(spooled.spoolPath);
  });
});

describe('gzip engine choice', () => {
  /** The compressor a backup ran, from its debug log line. */
  async function compressorOf(
    options: Record<string, unknown>,
  ): Promise<{ compressor: string; path: string }> {
    const lines: string[] = [];
    const debugLogger = createLogger({
      service: 'backup-speed-test',
      level: 'debug',
      destination: { write: (line: string) => lines.push(line) },
    });
    const spooled = await createSpooledBackup(
      { logger: debugLogger },
      { ...baseOptions(), spoolDir: join(work, `spool-engine-${lines.length}-${Date.now()}`), ...options },
    );
    const started = lines.map((line) => JSON.parse(line)).find((entry) => entry.msg === 'dump started');
    return { compressor: started?.compressor as string, path: spooled.spoolPath };
  }

  it.skipIf(!hasIgzip)('auto uses igzip at levels 1-3, and gunzip reads its file whole', async () => {
    const { compressor, path } = await compressorOf({ gzipLevel: 3 });
    expect(compressor).toBe('igzip -3 -c');
    execFileSync('gzip', ['-t', path]);
    const sql = execFileSync('gzip', ['-dc', path], { maxBuffer: 256 * 1024 * 1024 });
    expect(sql.subarray(-4096).toString()).toContain('PostgreSQL database dump complete');
    await rm(path);
  });

  it.skipIf(!hasPigz)('auto uses pigz on every core above level 3', async () => {
    const { compressor, path } = await compressorOf({ gzipLevel: 6 });
    expect(compressor).toMatch(/^pigz -p \d+ -6 -c$/);
    execFileSync('gzip', ['-t', path]);
    await rm(path);
  });

  it('refuses igzip with a level it does not have before connecting anywhere', async () => {
    await expect(
      createSpooledBackup(
        { logger },
        { ...baseOptions(), spoolDir: join(work, 'spool-igzip-9'), gzipLevel: 9, gzipEngine: 'igzip' },
      ),
    ).rejects.toMatchObject({ code: 'COMPRESSION_FAILED', permanent: true });
  });
});

describe('integrity check while writing', () => {
  it.skipIf(!hasZstd)(
    'rejects a compressor that exits 0 but writes garbage, and leaves nothing',
    async () => {
      // Decompression (-d) is the real zstd; compression reads everything and writes junk.
      const liar = await script(
        'zstd_liar',
        'if [ "$1" = "-d" ]; then exec zstd "$@"; fi\ncat > /dev/null\nhead -c 70000 /dev/zero | tr "\\\\0" "x"\nexit 0',
      );
      const spoolDir = join(work, 'spool-liar');
      const error = await createSpooledBackup(
        { logger },
        { ...baseOptions(), spoolDir, compression: 'zstd', zstdPath: liar },
      ).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(BackupError);
      expect((error as BackupError).code).toBe('INTEGRITY_CHECK_FAILED');
      expect((error as Error).message).toContain('does not decompress');
      expect(await readdir(spoolDir)).toEqual([]);
    },
  );
});

describe('upload while dumping (S3)', () => {
  it('streams the dump to S3 as it is written and stores exactly the integrity-checked file', async () => {
    const { storage, calls } = observed(await freshS3Storage());
    const spoolDir = join(work, 'spool-stream');
    const manifest = await runBackup({ storage, logger }, { ...baseOptions(), spoolDir });
    expect(calls).toEqual({ putStream: 1, putFile: 0 });
    const bytes = await storage.readBytes(manifest.key);
    expect(bytes.length).toBe(manifest.bytes);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(manifest.sha256);
    execFileSync('gzip', ['-t'], { input: bytes });
    expect(await readdir(spoolDir)).toEqual([]);
    expect((await listBackups(storage, { target: 'speedy' })).map((m) => m.filename)).toEqual([
      manifest.filename,
    ]);
    await storage.close();
  });

  it('falls back to the spool file when the streamed upload fails (it counts as attempt 1)', async () => {
    const inner = await freshS3Storage();
    const { storage, calls } = observed(inner, {
      // Reads part of the body, then fails like a dropped connection.
      putStream: async (_key: string, body: Readable) => {
        for await (const _chunk of body) break;
        throw new Error('connection reset by peer');
      },
    });
    const attempts: number[] = [];
    const spoolDir = join(work, 'spool-fallback');
    const manifest = await runBackup(
      { storage, logger, sleep: async () => undefined },
      {
        ...baseOptions(),
        spoolDir,
        onUploadRetry: (attempt) => {
          attempts.push(attempt);
        },
      },
    );
    expect(attempts).toEqual([1]);
    expect(calls).toEqual({ putStream: 1, putFile: 1 });
    const bytes = await inner.readBytes(manifest.key);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(manifest.sha256);
    expect(await readdir(spoolDir)).toEqual([]);
    await storage.close();
  });

  it('stores nothing when the dump fails after several parts were already sent', async () => {
    const storage = await freshS3Storage();
    // ~24 MB of incompressible output: three 8 MiB parts are on their way before pg_dump fails.
    const dying = await script(
      'pg_dump_dying',
      `if [ "$1" = "--version" ]; then echo 'pg_dump (PostgreSQL) 15.20'; exit 0; fi\nhead -c 24000000 /dev/urandom\necho "pg_dump: error: connection lost" >&2\nexit 1`,
    );
    const spoolDir = join(work, 'spool-dying');
    const error = await runBackup(
      { storage, logger },
      { ...baseOptions(), spoolDir, gzipLevel: 1, pgDumpPath: dying },
    ).catch((caught: unknown) => caught);
    expect((error as BackupError).code).toBe('PG_DUMP_FAILED');
    expect((error as Error).message).toContain('connection lost');
    expect(await storage.list('')).toEqual([]);
    expect(await readdir(spoolDir)).toEqual([]);
    await storage.close();
  });
});
