import { stat } from 'node:fs/promises';
import { type BackupManifest, writeManifest } from '@warden/catalog';
import { BackupError, errorMessage, isWardenError } from '@warden/errors';
import type { Logger } from '@warden/logging';
import type { BackupStorage } from '@warden/storage';
import { compressionContentType } from '../codecs/compression.js';
import type { SpooledBackup } from './dump-options.js';
import { removeSpooledBackup } from './spool-record.js';

export interface UploadSpooledBackupOptions {
  /** Called with the bytes sent so far. */
  onProgress?: (bytes: number) => void;
  signal?: AbortSignal;
  /** Sets `finished_at`/`duration_ms` to include the upload. @defaultValue () => new Date() */
  now?: () => Date;
  /**
   * The dump was already uploaded while it was written (`streamUpload`): only the stored object is
   * checked and the manifest written. @defaultValue false
   */
  alreadyStored?: boolean;
}

/**
 * Uploads an integrity-checked spool file, runs the stored-object check (size, and SHA-256 where the store keeps
 * one), then writes the manifest, which is what makes the backup exist in the catalog. The spool
 * file is deleted only after all of that; on failure it is kept for the next attempt.
 */
export async function uploadSpooledBackup(
  deps: { storage: BackupStorage; logger: Logger },
  spooled: SpooledBackup,
  options: UploadSpooledBackupOptions = {},
): Promise<BackupManifest> {
  const { storage } = deps;
  const { manifest, spoolPath } = spooled;
  const log = deps.logger.child({ target: manifest.target, filename: manifest.filename });
  const kept = `the integrity-checked dump is kept at ${spoolPath}`;

  let spoolSize: number;
  try {
    spoolSize = (await stat(spoolPath)).size;
  } catch (error) {
    // Without the spool file no retry can succeed: the backup has to be taken again.
    throw new BackupError('UPLOAD_FAILED', `spool file ${spoolPath} is missing: ${errorMessage(error)}`, {
      cause: error,
      permanent: true,
    });
  }
  if (spoolSize !== manifest.bytes) {
    throw new BackupError(
      'UPLOAD_FAILED',
      `spool file ${spoolPath} has ${spoolSize} bytes, the integrity-checked dump had ${manifest.bytes}`,
      { permanent: true },
    );
  }

  const location = storage.describe(manifest.key);
  if (options.alreadyStored) {
    options.onProgress?.(manifest.bytes);
  } else {
    try {
      await storage.putFile(manifest.key, spoolPath, {
        sha256: manifest.sha256,
        expectedSize: manifest.bytes,
        contentType: manifest.encryption
          ? 'application/octet-stream'
          : compressionContentType(manifest.compression),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      // A store that refuses for good (a permanent storage error) is not retried.
      throw new BackupError(
        'UPLOAD_FAILED',
        `upload of ${manifest.key} to ${storage.location} failed: ${errorMessage(error)}; ${kept}`,
        { cause: error, spoolPath, permanent: isWardenError(error) && error.permanent },
      );
    }
  }

  let stored: Awaited<ReturnType<BackupStorage['head']>>;
  try {
    stored = await storage.head(manifest.key);
  } catch (error) {
    throw new BackupError(
      'UPLOAD_FAILED',
      `checking the uploaded ${manifest.key} failed: ${errorMessage(error)}; ${kept}`,
      { cause: error, spoolPath },
    );
  }
  const mismatch =
    stored === undefined
      ? 'the object is missing after upload'
      : stored.size !== manifest.bytes
        ? `the stored object has ${stored.size} bytes, ${manifest.bytes} were uploaded`
        : stored.sha256 !== undefined && stored.sha256.toLowerCase() !== manifest.sha256
          ? `the stored SHA-256 ${stored.sha256} differs from ${manifest.sha256}`
          : undefined;
  if (mismatch) {
    // A wrong object under the final key must not outlive the failed attempt.
    await storage.delete(manifest.key).catch(() => undefined);
    throw new BackupError(
      'UPLOAD_VERIFY_FAILED',
      `stored-object check of ${manifest.key} failed: ${mismatch}; ${kept}`,
      { spoolPath },
    );
  }

  const finishedAt = (options.now ?? (() => new Date()))();
  const final: BackupManifest = {
    ...manifest,
    location,
    finished_at: finishedAt.toISOString(),
    duration_ms: Math.max(0, finishedAt.getTime() - Date.parse(manifest.started_at)),
  };
  try {
    await writeManifest(storage, final);
  } catch (error) {
    if (error instanceof BackupError) throw error;
    throw new BackupError(
      'UPLOAD_FAILED',
      `writing the manifest of ${manifest.key} failed: ${errorMessage(error)}; ${kept}`,
      { cause: error, spoolPath },
    );
  }
  await removeSpooledBackup(spoolPath).catch((error: unknown) => {
    log.warn({ err: error, spoolPath }, 'removing the uploaded spool file failed');
  });
  log.info(
    { location, bytes: final.bytes, sha256: final.sha256 },
    'backup uploaded, stored-object check passed',
  );
  return final;
}
