import { chmod, copyFile, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  type BackupTargetSpec,
  type CreateSpooledBackupOptions,
  checkBackupFileIntegrity,
  createSpooledBackup,
  runBackup,
} from '@warden/backup';
import { BackupError } from '@warden/errors';
import { createLogger } from '@warden/logging';
import { type BackupStorage, createLocalStorage } from '@warden/storage';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, pgUrl, type TestDatabase, targetSpecFor } from './helpers/pg-fixtures.js';

const logger = createLogger({ service: 'backup-failures-test', level: 'silent' });
const PASSWORD = 'Sup3r-S3cret-pw_4217';

let db: TestDatabase;
let work: string;
let spoolDir: string;
let storage: BackupStorage;
let scripts: string;

function target(overrides: Partial<BackupTargetSpec> = {}): BackupTargetSpec {
  return targetSpecFor(db, {
    name: 'failing',
    databaseUrl: pgUrl(db.name, { password: PASSWORD }),
    keepLast: 3,
    ...overrides,
  });
}

function options(overrides: Partial<CreateSpooledBackupOptions> = {}): CreateSpooledBackupOptions {
  return {
    target: target(),
    spoolDir,
    minFreeBytes: 1024 * 1024,
    compression: 'gzip',
    gzipLevel: 1,
    rowCounts: true,
    pgDumpPath: 'pg_dump',
    timeoutMs: 60_000,
    ...overrides,
  };
}

async function backupError(promise: Promise<unknown>): Promise<BackupError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(BackupError);
  const backupError = error as BackupError;
  expect(backupError.name).toBe('BackupError');
  expect(backupError.message).not.toContain(PASSWORD);
  expect(backupError.message).not.toContain('postgres://');
  expect(String((backupError.cause as Error | undefined)?.message ?? '')).not.toContain(PASSWORD);
  return backupError;
}

/** A fake pg_dump: `body` runs for dump calls, `--version` prints `version`. */
async function fakePgDump(
  name: string,
  body: string,
  version = 'pg_dump (PostgreSQL) 15.20',
): Promise<string> {
  const path = join(scripts, name);
  await writeFile(
    path,
    `#!/bin/sh\nif [ "$1" = "--version" ]; then echo '${version}'; exit 0; fi\n${body}\n`,
  );
  await chmod(path, 0o755);
  return path;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

async function expectNothingLeft(): Promise<void> {
  expect(await readdir(spoolDir).catch(() => [])).toEqual([]);
  expect(await storage.list('')).toEqual([]);
}

beforeAll(async () => {
  db = await createTestDatabase({ prefix: 'warden_bkfail', seed: { orders: 6000 } });
  work = await mkdtemp(join(tmpdir(), 'warden-backup-failures-'));
  scripts = join(work, 'bin');
  await import('node:fs/promises').then((fs) => fs.mkdir(scripts));
  storage = createLocalStorage({ dir: join(work, 'store') });
});

beforeEach(async () => {
  spoolDir = await mkdtemp(join(work, 'spool-'));
});

afterAll(async () => {
  await db?.drop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('preflight failures', () => {
  it('reports a role that does not exist, permanently', async () => {
    const url = pgUrl(db.name, { user: 'warden_no_such_role', password: PASSWORD });
    const error = await backupError(
      createSpooledBackup({ logger }, options({ target: target({ databaseUrl: url }) })),
    );
    expect(error.code).toBe('PREFLIGHT_CONNECT_FAILED');
    expect(error.message).toContain('role "warden_no_such_role" does not exist');
    expect(error.message).toContain(`127.0.0.1:5432/${db.name}`);
    expect(error.permanent).toBe(true);
    await expectNothingLeft();
  });

  it('reports a database that does not exist', async () => {
    const url = pgUrl('warden_no_such_database', { password: PASSWORD });
    const error = await backupError(
      createSpooledBackup(
        { logger },
        options({ target: target({ databaseUrl: url, database: 'warden_no_such_database' }) }),
      ),
    );
    expect(error.code).toBe('PREFLIGHT_CONNECT_FAILED');
    expect(error.message).toContain('database "warden_no_such_database" does not exist');
    await expectNothingLeft();
  });

  it('reports an unreachable server as a transient failure', async () => {
    const port = await freePort();
    const url = pgUrl(db.name, { password: PASSWORD, port });
    const error = await backupError(
      createSpooledBackup({ logger }, options({ target: target({ databaseUrl: url }) })),
    );
    expect(error.code).toBe('PREFLIGHT_CONNECT_FAILED');
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect(error.permanent).toBe(false);
    await expectNothingLeft();
  });

  it('refuses an older pg_dump before dumping anything', async () => {
    const marker = join(work, 'old-dump-ran');
    const old = await fakePgDump('pg_dump_96', `touch '${marker}'\nexit 0`, 'pg_dump (PostgreSQL) 9.6.24');
    const error = await backupError(createSpooledBackup({ logger }, options({ pgDumpPath: old })));
    expect(error.code).toBe('PG_DUMP_VERSION_MISMATCH');
    expect(error.permanent).toBe(true);
    expect(error.message).toContain('pg_dump 9.6.24');
    expect(error.message).toMatch(/PostgreSQL 15\.\d+/);
    expect(error.message).toContain('postgresql-client-15');
    await expect(stat(marker)).rejects.toThrow();
    await expectNothingLeft();
  });

  it('reports a missing pg_dump binary', async () => {
    const error = await backupError(
      createSpooledBackup({ logger }, options({ pgDumpPath: join(scripts, 'nope') })),
    );
    expect(error.code).toBe('PG_DUMP_NOT_FOUND');
    expect(error.permanent).toBe(true);
  });

  it('refuses to start without enough free spool space', async () => {
    const error = await backupError(
      createSpooledBackup({ logger }, options({ minFreeBytes: Number.MAX_SAFE_INTEGER })),
    );
    expect(error.code).toBe('INSUFFICIENT_SPACE');
    await expectNothingLeft();
  });
});

describe('dump failures leave nothing behind', () => {
  it('fails a pg_dump that dies halfway, stores nothing and keeps the password out of the message', async () => {
    const half = await fakePgDump(
      'pg_dump_half',
      `pg_dump "$@" | head -c 200000\necho "pg_dump: error: simulated failure (password=$PGPASSWORD)" >&2\nexit 1`,
    );
    const error = await backupError(
      runBackup(
        { storage, logger },
        { ...options({ pgDumpPath: half }), uploadRetryAttempts: 3, uploadRetryDelayMs: 1 },
      ),
    );
    expect(error.code).toBe('PG_DUMP_FAILED');
    expect(error.message).toContain('exited with code 1');
    expect(error.message).toContain('simulated failure');
    await expectNothingLeft();
  });

  it('fails a dump that exits 0 without the completion trailer (a valid but incomplete gzip)', async () => {
    const truncated = await fakePgDump('pg_dump_truncated', 'pg_dump "$@" | head -c 100000\nexit 0');
    const error = await backupError(createSpooledBackup({ logger }, options({ pgDumpPath: truncated })));
    expect(error.code).toBe('PG_DUMP_FAILED');
    expect(error.message).toContain('trailer');
    await expectNothingLeft();
  });

  it('passes connection settings through the environment, never argv', async () => {
    const seen = join(work, 'seen');
    const spy = await fakePgDump(
      'pg_dump_spy',
      `printf '%s\\n' "$@" > '${seen}.args'\nprintf '%s|%s|%s|%s\\n' "$PGHOST" "$PGPORT" "$PGDATABASE" "$PGPASSWORD" > '${seen}.env'\nexec pg_dump "$@"`,
    );
    const spooled = await createSpooledBackup({ logger }, options({ pgDumpPath: spy }));
    await rm(spooled.spoolPath);
    const args = await readFile(`${seen}.args`, 'utf8');
    expect(args).not.toContain(PASSWORD);
    expect(args).not.toContain(db.name);
    expect(args).toMatch(/^--snapshot=\S+$/m);
    expect((await readFile(`${seen}.env`, 'utf8')).trim()).toBe(`127.0.0.1|5432|${db.name}|${PASSWORD}`);
  });

  it('kills a hanging pg_dump at the timeout', async () => {
    const hang = await fakePgDump('pg_dump_hang', 'echo "-- partial"\nexec sleep 30');
    const started = Date.now();
    const error = await backupError(
      createSpooledBackup({ logger }, options({ pgDumpPath: hang, timeoutMs: 1500 })),
    );
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(error.code).toBe('PG_DUMP_FAILED');
    expect(error.message).toContain('timed out after 1500 ms');
    await expectNothingLeft();
  });

  it('stops when the caller aborts', async () => {
    const hang = await fakePgDump('pg_dump_hang2', 'echo "-- partial"\nexec sleep 30');
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('shutdown')), 800);
    const error = await backupError(
      createSpooledBackup({ logger }, options({ pgDumpPath: hang, signal: controller.signal })),
    );
    expect(error.code).toBe('PG_DUMP_FAILED');
    expect(error.message).toContain('aborted');
    await expectNothingLeft();
  });

  it('reports a compressor that crashes mid-stream, not the pg_dump it took down', async () => {
    const zstd = join(scripts, 'zstd_crash');
    await writeFile(zstd, `#!/bin/sh\nhead -c 4096 > /dev/null\necho "zstd: simulated crash" >&2\nexit 1\n`);
    await chmod(zstd, 0o755);
    const error = await backupError(
      createSpooledBackup({ logger }, options({ compression: 'zstd', zstdPath: zstd })),
    );
    expect(error.code).toBe('COMPRESSION_FAILED');
    expect(error.message).toContain('simulated crash');
    await expectNothingLeft();
  });

  it('refuses a compression level the compressor would clamp, before connecting', async () => {
    const error = await backupError(
      createSpooledBackup({ logger }, options({ compression: 'zstd', zstdLevel: 99 })),
    );
    expect(error.code).toBe('COMPRESSION_FAILED');
    expect(error.permanent).toBe(true);
    await expectNothingLeft();
  });
});

describe('checkBackupFileIntegrity', () => {
  let good: string;
  let sha256: string;

  beforeAll(async () => {
    spoolDir = await mkdtemp(join(work, 'spool-integrity-'));
    const spooled = await createSpooledBackup({ logger }, options());
    good = join(work, 'good.sql.gz');
    await copyFile(spooled.spoolPath, good);
    await rm(spooled.spoolPath);
    sha256 = spooled.manifest.sha256;
  });

  async function variant(name: string, change: (bytes: Buffer) => Buffer): Promise<string> {
    const path = join(work, name);
    await writeFile(path, change(await readFile(good)));
    return path;
  }

  it('accepts the intact file', async () => {
    const result = await checkBackupFileIntegrity(good, { compression: 'gzip', expectedSha256: sha256 });
    expect(result.sha256).toBe(sha256);
    expect(result.bytes).toBe((await stat(good)).size);
    expect(result.sqlBytes).toBeGreaterThan(result.bytes);
  });

  it('rejects a flipped byte', async () => {
    const path = await variant('flipped.sql.gz', (bytes) => {
      const copy = Buffer.from(bytes);
      const at = Math.floor(copy.length / 2);
      copy[at] = (copy[at] ?? 0) ^ 0xff;
      return copy;
    });
    const error = await backupError(checkBackupFileIntegrity(path, { compression: 'gzip' }));
    expect(error.code).toBe('INTEGRITY_CHECK_FAILED');
  });

  it('rejects a truncated file', async () => {
    const path = join(work, 'truncated.sql.gz');
    await copyFile(good, path);
    await truncate(path, (await stat(good)).size - 100);
    const error = await backupError(checkBackupFileIntegrity(path, { compression: 'gzip' }));
    expect(error.code).toBe('INTEGRITY_CHECK_FAILED');
    expect(error.message).toContain('does not decompress');
  });

  it('rejects trailing garbage that gunzip would silently skip', async () => {
    const path = await variant('trailing.sql.gz', (bytes) => Buffer.concat([bytes, Buffer.alloc(64)]));
    const error = await backupError(checkBackupFileIntegrity(path, { compression: 'gzip' }));
    expect(error.code).toBe('INTEGRITY_CHECK_FAILED');
    expect(error.message).toContain('trailing data');
  });

  it('rejects a valid gzip without the dump trailer and a SHA-256 mismatch', async () => {
    const empty = join(work, 'empty.sql.gz');
    await writeFile(empty, gzipSync(Buffer.alloc(0)));
    const noTrailer = await backupError(checkBackupFileIntegrity(empty, { compression: 'gzip' }));
    expect(noTrailer.code).toBe('INTEGRITY_CHECK_FAILED');
    expect(noTrailer.message).toContain('trailer');

    const wrongSum = await backupError(
      checkBackupFileIntegrity(good, { compression: 'gzip', expectedSha256: '0'.repeat(64) }),
    );
    expect(wrongSum.code).toBe('INTEGRITY_CHECK_FAILED');
    expect(wrongSum.message).toContain('SHA-256');
  });
});
