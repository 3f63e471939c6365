import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { type BackupManifest, backupFileName, parseManifest } from '@warden/catalog';
import { BackupError } from '@warden/errors';
import { type SpooledBackup, spoolFileName } from './dump-options.js';
import type { BackupTargetSpec } from './target.js';

/**
 * A spooled dump waiting for an upload retry is described by a record the worker wrote itself,
 * beside the spool file: `<spool file>.manifest.json`, mode 0600. Job data only names the backup
 * (its file name); the path, size and SHA-256 come from here, so whoever can add a job cannot make
 * the worker upload, overwrite or delete anything it did not spool.
 */
export const SPOOL_RECORD_SUFFIX = '.manifest.json';

/** Far above any real manifest (row counts of thousands of tables): a bigger file is not ours. */
const MAX_RECORD_BYTES = 16 * 1024 * 1024;

/** Everything after `{database}_{environment}_` in a backup file name (see `backupFileName`). */
const FILE_NAME_TAIL = /^\d{8}_\d{6}\.sql\.(?:gz|zst)(?:\.enc)?$/;

/**
 * Whether `filename` is a name this target's backups get: `{database}_{environment}_` of the
 * target, then a timestamp and a known extension. The prefix is taken from `backupFileName` itself,
 * so the check follows any change to how names are formed.
 */
export function isBackupFileNameOf(
  target: Pick<BackupTargetSpec, 'database' | 'environment'>,
  filename: string,
): boolean {
  const sample = backupFileName(target.database, target.environment, new Date(0), 'gzip');
  const prefix = sample.slice(0, sample.length - '19700101_000000.sql.gz'.length);
  return (
    filename.startsWith(prefix) &&
    FILE_NAME_TAIL.test(filename.slice(prefix.length)) &&
    !filename.includes('/') &&
    !filename.includes('\\') &&
    !filename.includes('\0')
  );
}

/** Where the worker spools `filename` of `target`; never taken from outside. */
export function spoolPathFor(spoolDir: string, target: string, filename: string): string {
  return join(spoolDir, spoolFileName(target, filename));
}

export function spoolRecordPathFor(spoolPath: string): string {
  return `${spoolPath}${SPOOL_RECORD_SUFFIX}`;
}

/**
 * Writes the record of a freshly integrity-checked spool file: a temporary file created 0600 (never
 * through an existing file or link), renamed over the final name. Throws the file system's error.
 */
export async function writeSpoolRecord(spooled: SpooledBackup): Promise<void> {
  await writePrivateFile(spoolRecordPathFor(spooled.spoolPath), `${JSON.stringify(spooled.manifest)}\n`);
}

/** `content` at `filePath` through a 0600 temporary file renamed over it (`<path>.tmp-<hex>`). */
export async function writePrivateFile(filePath: string, content: string): Promise<void> {
  const tempPath = `${filePath}.tmp-${randomBytes(8).toString('hex')}`;
  try {
    const handle = await open(tempPath, 'wx', 0o600);
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tempPath, filePath);
  } catch (error) {
    await rm(tempPath, { force: true }).catch(() => undefined);
    throw error;
  }
}

/**
 * The text of a file this process's user wrote with {@link writePrivateFile}: a regular file of
 * this uid, mode 0600 or stricter, at most `maxBytes`; `undefined` for anything else. Throws the
 * file system's error (ENOENT when absent).
 */
export async function readPrivateFile(filePath: string, maxBytes: number): Promise<string | undefined> {
  const info = await lstat(filePath);
  const uid = process.getuid?.();
  if (
    !info.isFile() ||
    (info.mode & 0o077) !== 0 ||
    (uid !== undefined && info.uid !== uid) ||
    info.size > maxBytes
  ) {
    return undefined;
  }
  return readFile(filePath, { encoding: 'utf8', flag: 'r' });
}

/** Removes a spool file and its record (after a successful upload, or when the dump is abandoned). */
export async function removeSpooledBackup(spoolPath: string): Promise<void> {
  await rm(spoolPath, { force: true });
  await rm(spoolRecordPathFor(spoolPath), { force: true });
}

export interface LoadSpooledBackupOptions {
  spoolDir: string;
  target: Pick<BackupTargetSpec, 'name' | 'database' | 'environment'>;
  /** The backup's file name as a job names it (untrusted). */
  filename: string;
}

/**
 * The spooled dump of `filename`, for an upload retry: its path derived from the spool directory,
 * target and a file name of the target's own pattern, its manifest read from the record this
 * process's user wrote (a regular file, mode 0600), and the spool file re-hashed to check it still
 * has the size and SHA-256 recorded. Throws a permanent `SPOOL_RECORD_INVALID` otherwise; the
 * message never quotes sizes or checksums, so it tells nothing about a file it refuses.
 */
export async function loadSpooledBackup(options: LoadSpooledBackupOptions): Promise<SpooledBackup> {
  const { target, filename } = options;
  const refuse = (reason: string, cause?: unknown): never => {
    throw new BackupError('SPOOL_RECORD_INVALID', reason, {
      permanent: true,
      ...(cause === undefined ? {} : { cause }),
    });
  };
  if (!isBackupFileNameOf(target, filename)) {
    refuse(`"${filename.slice(0, 80)}" is not a backup file name of target "${target.name}"`);
  }
  const spoolPath = spoolPathFor(options.spoolDir, target.name, filename);
  const recordPath = spoolRecordPathFor(spoolPath);
  const notOurs = `no spool record written by this worker for ${filename}`;

  let manifest: BackupManifest;
  try {
    const text = await readPrivateFile(recordPath, MAX_RECORD_BYTES);
    if (text === undefined) return refuse(notOurs);
    manifest = parseManifest(JSON.parse(text));
  } catch (error) {
    if (error instanceof BackupError && error.code === 'SPOOL_RECORD_INVALID') throw error;
    return refuse(notOurs, error);
  }
  if (manifest.target !== target.name || manifest.filename !== filename) refuse(notOurs);

  let sha256: string;
  let bytes = 0;
  try {
    const info = await lstat(spoolPath);
    if (!info.isFile()) return refuse(`the spooled dump ${filename} is not a regular file`);
    // O_NOFOLLOW: a link swapped in after the lstat is refused, not followed.
    const handle = await open(spoolPath, constants.O_RDONLY | constants.O_NOFOLLOW);
    const hash = createHash('sha256');
    await pipeline(handle.createReadStream(), async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) {
        hash.update(chunk);
        bytes += chunk.length;
      }
    });
    sha256 = hash.digest('hex');
  } catch (error) {
    if (error instanceof BackupError) throw error;
    return refuse(`the spooled dump ${filename} is gone or unreadable; nothing to upload`, error);
  }
  if (bytes !== manifest.bytes || sha256 !== manifest.sha256) {
    refuse(
      `the spooled dump ${filename} no longer matches the record made after its integrity check (size or SHA-256 differ); it is kept, not uploaded`,
    );
  }
  return { spoolPath, manifest };
}
