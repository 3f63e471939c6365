import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync } from 'node:zlib';
import {
  type BackupTargetSpec,
  checkBackupFileIntegrity,
  createDecryptStream,
  hasCompletionTrailer,
  keyIdOf,
  looksEncrypted,
  runBackup,
} from '@warden/backup';
import { parseManifest } from '@warden/catalog';
import { BackupError, isEncryptionError } from '@warden/errors';
import { createLogger } from '@warden/logging';
import { type BackupStorage, createLocalStorage, createS3Storage } from '@warden/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDatabase,
  createTestDatabase,
  dropDatabase,
  restorePlainDump,
  type TestDatabase,
  tableFingerprints,
  targetSpecFor,
  uniqueDatabaseName,
} from './helpers/pg-fixtures.js';
import { type S3TestServer, s3rverStorageOptions, startS3Server } from './helpers/s3-server.js';

const logger = createLogger({ service: 'backup-encryption-test', level: 'silent' });
const KEY = '0f'.repeat(16) + 'a5'.repeat(16);
const WRONG_KEY = '11'.repeat(32);

let db: TestDatabase;
let work: string;
let storage: BackupStorage;
let s3: S3TestServer;
const scratch: string[] = [];

function target(): BackupTargetSpec {
  return targetSpecFor(db, { name: 'secret', keepLast: 3 });
}

async function decryptToBuffer(file: string, key: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(
    createReadStream(file),
    createDecryptStream(key),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        parts.push(chunk);
        callback();
      },
    }),
  );
  return Buffer.concat(parts);
}

beforeAll(async () => {
  db = await createTestDatabase({ prefix: 'warden_bkenc', seed: { orders: 3000 } });
  work = await mkdtemp(join(tmpdir(), 'warden-backup-encryption-'));
  storage = createLocalStorage({ dir: join(work, 'store') });
  s3 = await startS3Server({ buckets: ['encrypted'] });
});

afterAll(async () => {
  await db?.drop();
  for (const name of scratch) await dropDatabase(name);
  await s3?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('encrypted backups (BACKUP_ENCRYPTION_KEY)', () => {
  it('encrypts after compression, records the key id, and restores identically after decryption', async () => {
    const spoolDir = join(work, 'spool-local');
    const manifest = await runBackup(
      { storage, logger },
      {
        target: target(),
        spoolDir,
        minFreeBytes: 1024 * 1024,
        gzipLevel: 3,
        timeoutMs: 60_000,
        uploadRetryAttempts: 0,
        uploadRetryDelayMs: 1,
        encryptionKey: KEY,
      },
    );
    expect(manifest.filename).toMatch(/^warden_bkenc_\w+_test_\d{8}_\d{6}\.sql\.gz\.enc$/);
    expect(manifest.encryption).toEqual({ algorithm: 'aes-256-gcm', keyId: keyIdOf(KEY) });
    expect(manifest.compression).toBe('gzip');
    expect(await readdir(spoolDir)).toEqual([]);

    // The stored manifest round-trips through the catalog parser with its encryption field.
    const stored = parseManifest(
      JSON.parse((await storage.readBytes(`${manifest.key}.manifest.json`)).toString('utf8')),
    );
    expect(stored.encryption?.keyId).toBe(keyIdOf(KEY));

    const file = join(work, 'stored.sql.gz.enc');
    const bytes = await storage.readBytes(manifest.key);
    await writeFile(file, bytes);
    expect(bytes.length).toBe(manifest.bytes);
    expect(looksEncrypted(bytes)).toBe(true);
    // Nothing of the SQL is readable at rest, and it is not a gzip file either.
    expect(bytes.includes(Buffer.from('PostgreSQL database dump'))).toBe(false);
    expect(() => gunzipSync(bytes)).toThrow();

    const checked = await checkBackupFileIntegrity(file, {
      compression: 'gzip',
      encryptionKey: KEY,
      expectedSha256: manifest.sha256,
    });
    expect(checked.sqlBytes).toBe(manifest.sql_bytes);

    const sql = gunzipSync(await decryptToBuffer(file, KEY));
    expect(sql.length).toBe(manifest.sql_bytes);
    expect(hasCompletionTrailer(sql.subarray(-4096).toString('utf8'))).toBe(true);
    const plain = join(work, 'restored.sql');
    await writeFile(plain, sql);
    const restored = await createDatabase(uniqueDatabaseName('warden_encrestore'));
    scratch.push(restored);
    await restorePlainDump(plain, restored);
    expect(await tableFingerprints(restored)).toEqual(await tableFingerprints(db.name));
  });

  it('fails the integrity check with a wrong key (ENCRYPTION_KEY_MISMATCH) or a tampered file', async () => {
    const spoolDir = join(work, 'spool-check');
    const manifest = await runBackup(
      { storage, logger },
      {
        target: target(),
        spoolDir,
        minFreeBytes: 1024 * 1024,
        timeoutMs: 60_000,
        uploadRetryAttempts: 0,
        uploadRetryDelayMs: 1,
        encryptionKey: KEY,
        retention: false,
      },
    );
    const file = join(work, 'check.sql.gz.enc');
    await writeFile(file, await storage.readBytes(manifest.key));

    const noKey = await checkBackupFileIntegrity(file, { compression: 'gzip' }).catch(
      (error: unknown) => error,
    );
    expect((noKey as BackupError).code).toBe('INTEGRITY_CHECK_FAILED');
    expect((noKey as Error).message).toContain('needs the encryption key');

    const wrong = await checkBackupFileIntegrity(file, {
      compression: 'gzip',
      encryptionKey: WRONG_KEY,
    }).catch((error: unknown) => error);
    expect(wrong).toBeInstanceOf(BackupError);
    expect((wrong as BackupError).code).toBe('INTEGRITY_CHECK_FAILED');
    expect(isEncryptionError((wrong as BackupError).cause, 'ENCRYPTION_KEY_MISMATCH')).toBe(true);
    expect((wrong as Error).message).toContain(keyIdOf(KEY));
    expect((wrong as Error).message).not.toContain(WRONG_KEY);

    // A wrong key releases nothing at all: the header is checked before any output.
    const out: Buffer[] = [];
    const mismatch = await pipeline(
      createReadStream(file),
      createDecryptStream(WRONG_KEY),
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          out.push(chunk);
          callback();
        },
      }),
    ).catch((error: unknown) => error);
    expect(isEncryptionError(mismatch, 'ENCRYPTION_KEY_MISMATCH')).toBe(true);
    expect(out).toEqual([]);

    const tampered = Buffer.from(await readFile(file));
    const at = Math.floor(tampered.length / 2);
    tampered[at] = (tampered[at] as number) ^ 0x40;
    await writeFile(file, tampered);
    const tamperError = await checkBackupFileIntegrity(file, {
      compression: 'gzip',
      encryptionKey: KEY,
    }).catch((error: unknown) => error);
    expect((tamperError as BackupError).code).toBe('INTEGRITY_CHECK_FAILED');
    expect(isEncryptionError((tamperError as BackupError).cause, 'ENCRYPTION_AUTH_FAILED')).toBe(true);

    await writeFile(file, tampered.subarray(0, at));
    const truncated = await checkBackupFileIntegrity(file, { compression: 'gzip', encryptionKey: KEY }).catch(
      (error: unknown) => error,
    );
    expect((truncated as BackupError).code).toBe('INTEGRITY_CHECK_FAILED');
  });

  it('uploads an encrypted backup to S3 while dumping, byte-identical to the manifest', async () => {
    const s3Storage = createS3Storage(s3rverStorageOptions(s3.endpoint, 'encrypted'));
    try {
      let streamed = 0;
      const manifest = await runBackup(
        { storage: s3Storage, logger },
        {
          target: target(),
          spoolDir: join(work, 'spool-s3'),
          minFreeBytes: 1024 * 1024,
          timeoutMs: 60_000,
          uploadRetryAttempts: 0,
          uploadRetryDelayMs: 1,
          encryptionKey: KEY,
          onUploadProgress: (bytes) => {
            streamed = Math.max(streamed, bytes);
          },
        },
      );
      expect(manifest.encryption?.keyId).toBe(keyIdOf(KEY));
      const bytes = await s3Storage.readBytes(manifest.key);
      expect(bytes.length).toBe(manifest.bytes);
      const { createHash } = await import('node:crypto');
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(manifest.sha256);
      const file = join(work, 's3.sql.gz.enc');
      await writeFile(file, bytes);
      expect(gunzipSync(await decryptToBuffer(file, KEY)).length).toBe(manifest.sql_bytes);
      expect(streamed).toBe(manifest.bytes);
    } finally {
      await s3Storage.close();
    }
  });
});
