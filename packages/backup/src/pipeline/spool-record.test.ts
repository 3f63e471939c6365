import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BackupManifest } from '@warden/catalog';
import { BackupError } from '@warden/errors';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  isBackupFileNameOf,
  loadSpooledBackup,
  removeSpooledBackup,
  spoolPathFor,
  spoolRecordPathFor,
  writeSpoolRecord,
} from './spool-record.js';

const target = { name: 'shop', database: 'shop', environment: 'production' };
const filename = 'shop_production_20251015_121644.sql.gz';
const body = Buffer.alloc(4093, 'v');

function manifestOf(bytes: Buffer, name = filename): BackupManifest {
  return {
    formatVersion: 1,
    status: 'success',
    target: 'shop',
    environment: 'production',
    database: 'shop',
    filename: name,
    key: `shop/${name}`,
    bytes: bytes.length,
    size_mb: 0,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    sql_bytes: 100,
    compression: 'gzip',
    started_at: '2025-10-15T12:16:44.000Z',
    finished_at: '2025-10-15T12:16:45.000Z',
    duration_ms: 1000,
    location: '',
    server_version: '15.14',
    pg_dump_version: '15.14',
    host: 'h',
  };
}

let spoolDir: string;
beforeEach(() => {
  spoolDir = mkdtempSync(path.join(tmpdir(), 'warden-spool-record-'));
});
afterEach(() => rmSync(spoolDir, { recursive: true, force: true }));

async function spool(bytes = body): Promise<string> {
  const spoolPath = spoolPathFor(spoolDir, 'shop', filename);
  writeFileSync(spoolPath, bytes, { mode: 0o600 });
  await writeSpoolRecord({ spoolPath, manifest: manifestOf(bytes) });
  return spoolPath;
}

async function refusal(name = filename): Promise<string> {
  const error = await loadSpooledBackup({ spoolDir, target, filename: name }).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(BackupError);
  expect((error as BackupError).code).toBe('SPOOL_RECORD_INVALID');
  expect((error as BackupError).permanent).toBe(true);
  return (error as BackupError).message;
}

describe('isBackupFileNameOf', () => {
  it("accepts only the target's own names", () => {
    expect(isBackupFileNameOf(target, filename)).toBe(true);
    expect(isBackupFileNameOf(target, 'shop_production_20251015_121644.sql.zst.enc')).toBe(true);
    expect(isBackupFileNameOf(target, 'shop_staging_20251015_121644.sql.gz')).toBe(false);
    expect(isBackupFileNameOf(target, 'other_production_20251015_121644.sql.gz')).toBe(false);
    expect(isBackupFileNameOf(target, 'shop_production_20251015_121644.sql.gz/../../x')).toBe(false);
    expect(isBackupFileNameOf(target, 'shop_production_20251015_121644.sql.gz.manifest.json')).toBe(false);
    expect(isBackupFileNameOf(target, 'passwd')).toBe(false);
  });
});

describe('spool records', () => {
  it('loads a spooled dump by name, from a 0600 record, after re-hashing it', async () => {
    const spoolPath = await spool();
    expect(statSync(spoolRecordPathFor(spoolPath)).mode & 0o777).toBe(0o600);
    const loaded = await loadSpooledBackup({ spoolDir, target, filename });
    expect(loaded.spoolPath).toBe(spoolPath);
    expect(loaded.manifest).toEqual(manifestOf(body));
    await removeSpooledBackup(spoolPath);
    expect(await refusal()).toContain('no spool record written by this worker');
  });

  it('refuses a record others could have written, a missing dump and a changed one, quoting no figures', async () => {
    const spoolPath = await spool();
    chmodSync(spoolRecordPathFor(spoolPath), 0o644);
    expect(await refusal()).toContain('no spool record written by this worker');
    chmodSync(spoolRecordPathFor(spoolPath), 0o600);

    writeFileSync(spoolPath, Buffer.from('a swapped dump!'));
    const changed = await refusal();
    expect(changed).toContain('no longer matches the record');
    expect(changed).not.toContain(manifestOf(body).sha256);
    expect(changed).not.toContain(String(body.length));

    rmSync(spoolPath);
    expect(await refusal()).toContain('is gone or unreadable');
  });

  it('refuses a dump or record that is a symbolic link', async () => {
    const outside = path.join(spoolDir, 'outside');
    writeFileSync(outside, body, { mode: 0o600 });
    const spoolPath = spoolPathFor(spoolDir, 'shop', filename);
    symlinkSync(outside, spoolPath);
    await writeSpoolRecord({ spoolPath, manifest: manifestOf(body) });
    expect(await refusal()).toContain('is not a regular file');

    rmSync(spoolPath);
    writeFileSync(spoolPath, body, { mode: 0o600 });
    const record = spoolRecordPathFor(spoolPath);
    rmSync(record);
    writeFileSync(outside, JSON.stringify(manifestOf(body)), { mode: 0o600 });
    symlinkSync(outside, record);
    expect(await refusal()).toContain('no spool record written by this worker');
  });

  it("refuses names outside the target's pattern and records of another backup", async () => {
    expect(await refusal('../../etc/passwd')).toContain('is not a backup file name of target "shop"');
    const spoolPath = await spool();
    // A record describing another file, renamed beside this one.
    const other = 'shop_production_20251015_121645.sql.gz';
    writeFileSync(spoolRecordPathFor(spoolPath), JSON.stringify(manifestOf(body, other)), { mode: 0o600 });
    expect(await refusal()).toContain('no spool record written by this worker');
  });
});
