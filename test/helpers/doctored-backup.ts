/**
 * Doctored backups: a stored gzip backup whose SQL was edited, re-compressed and given a manifest
 * whose checksums fit, so only the restore's proof of content can tell; and the restore that must
 * then fail naming what differs.
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { type RestoreBackupOptions, type RestoreDeps, restoreBackup } from '@warden/backup';
import { type BackupManifest, manifestKeyFor, writeManifest } from '@warden/catalog';
import { isRestoreError, type RestoreError } from '@warden/errors';
import { expect } from 'vitest';
import { dropDatabase, withClient } from './pg-fixtures.js';

/**
 * Writes a copy of `backup` (in the local store at `storeDir`) with its SQL edited, and its
 * manifest changed by `editManifest` too when given; returns its file name.
 */
export async function doctorBackup(
  deps: Pick<RestoreDeps, 'storage'>,
  storeDir: string,
  backup: BackupManifest,
  label: string,
  edit: (sql: string) => string,
  editManifest: (manifest: BackupManifest) => BackupManifest = (manifest) => manifest,
): Promise<string> {
  const sql = gunzipSync(await readFile(join(storeDir, backup.key))).toString('utf8');
  const changed = edit(sql);
  expect(changed).not.toBe(sql);
  const body = gzipSync(Buffer.from(changed, 'utf8'));
  const filename = backup.filename.replace('_test_', `_test${label}_`);
  const key = `${backup.target}/${filename}`;
  await writeFile(join(storeDir, key), body);
  await writeManifest(deps.storage, {
    ...editManifest(backup),
    filename,
    key,
    bytes: body.length,
    size_mb: Math.round((body.length / 1048576) * 100) / 100,
    sha256: createHash('sha256').update(body).digest('hex'),
    sql_bytes: Buffer.byteLength(changed, 'utf8'),
  });
  expect(manifestKeyFor(key)).toContain(label);
  return filename;
}

async function databaseNames(): Promise<string[]> {
  return withClient('postgres', async (client) =>
    (await client.query<{ datname: string }>('SELECT datname FROM pg_database')).rows.map(
      (row) => row.datname,
    ),
  );
}

/**
 * Restores `options.file`, which must fail with `RESTORE_CHECK_FAILED` and leave no database behind
 * whose name starts with `databasePrefix`; returns the error.
 */
export async function restoreFailure(
  deps: RestoreDeps,
  options: RestoreBackupOptions,
  databasePrefix: string,
): Promise<RestoreError> {
  const before = new Set(await databaseNames());
  const error = await restoreBackup(deps, options).then(
    async (result) => {
      await dropDatabase(result.database);
      throw new Error(`the doctored backup ${options.file} restored: ${JSON.stringify(result.check)}`);
    },
    (caught: unknown) => caught,
  );
  expect(isRestoreError(error, 'RESTORE_CHECK_FAILED'), String(error)).toBe(true);
  const after = await databaseNames();
  expect(after.filter((name) => !before.has(name) && name.startsWith(databasePrefix))).toEqual([]);
  return error as RestoreError;
}
