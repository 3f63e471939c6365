import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BackupManifest } from '@warden/catalog';
import { BackupError, errorMessage, RestoreError, StorageError } from '@warden/errors';
import type { BackupStorage } from '@warden/storage';
import { looksEncrypted } from '../codecs/encryption.js';
import { createIntegrityCheck, type IntegrityCheckResult } from '../pipeline/integrity-check.js';
import { checkSpoolSpace } from '../pipeline/preflight.js';
import { hasCompletionTrailer } from '../streams/tail-buffer.js';
import type { RestoreBackupOptions } from './restore-options.js';

/**
 * Downloads a backup into the spool and checks it in the same pass, before any SQL runs: the bytes
 * are hashed once on their way to the file and fed to the integrity check (decrypt, decompress to
 * the end, pg_dump's completion trailer). Then size, SHA-256 and SQL size are compared with the
 * manifest, the cheap checks first with the plainest message. Throws `RESTORE_INTEGRITY_FAILED`.
 */
export async function downloadWithIntegrityCheck(
  storage: BackupStorage,
  manifest: BackupManifest,
  localPath: string,
  options: Pick<RestoreBackupOptions, 'spoolDir' | 'minFreeBytes' | 'encryptionKey' | 'zstdPath'>,
  signal: AbortSignal,
  onBytes: (bytes: number) => void,
): Promise<void> {
  try {
    await checkSpoolSpace(options.spoolDir, (options.minFreeBytes ?? 0) + manifest.bytes);
  } catch (error) {
    throw new RestoreError(
      'RESTORE_INSUFFICIENT_SPACE',
      `cannot download ${manifest.filename} (${manifest.bytes} bytes): ${errorMessage(error)}`,
      { cause: error },
    );
  }
  const encryptionKey = manifest.encryption ? options.encryptionKey : undefined;
  const check = createIntegrityCheck({
    compression: manifest.compression,
    // Size and SHA-256 are compared with the manifest's first, in this same pass.
    knownGoodBytes: true,
    signal,
    ...(encryptionKey === undefined ? {} : { encryptionKey }),
    ...(options.zstdPath === undefined ? {} : { zstdPath: options.zstdPath }),
  });
  // The check's verdict is read after the download; until then a rejection is only held.
  const verdict = check.done.then(
    (result) => ({ ok: true as const, result }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  let bytes = 0;
  let encryptedWithoutKey = false;
  const hash = createHash('sha256');
  const tee = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (bytes === 0 && encryptionKey === undefined && looksEncrypted(chunk)) encryptedWithoutKey = true;
      bytes += chunk.length;
      hash.update(chunk);
      onBytes(bytes);
      // Once the check has given up (it already has its verdict), the download still completes.
      if (check.input.writable && !encryptedWithoutKey) {
        if (!check.input.write(chunk)) {
          // Wait for the check to catch up, or for it to end early (its verdict is then known).
          const resume = () => {
            check.input.off('drain', resume);
            check.input.off('close', resume);
            callback(null, chunk);
          };
          check.input.once('drain', resume);
          check.input.once('close', resume);
          return;
        }
      }
      callback(null, chunk);
    },
    flush(callback) {
      check.input.end();
      callback();
    },
  });
  check.input.on('error', () => undefined);
  try {
    const body = await storage.read(manifest.key);
    // 0600: the dump holds the whole database.
    await pipeline(body, tee, createWriteStream(localPath, { flags: 'wx', mode: 0o600 }), { signal });
  } catch (error) {
    check.input.destroy();
    await verdict;
    throw readFailure(storage, manifest, error);
  }
  const fail = (reason: string, cause?: unknown): never => {
    throw new RestoreError(
      'RESTORE_INTEGRITY_FAILED',
      `backup ${manifest.filename} failed its integrity check: ${reason}`,
      {
        cause,
      },
    );
  };
  const stored = storedBytesProblem(manifest, bytes, hash.digest('hex'));
  if (stored !== undefined) fail(stored);
  if (encryptedWithoutKey) {
    fail('the file is encrypted (.enc); checking it needs the encryption key (BACKUP_ENCRYPTION_KEY)');
  }
  const checked = await verdict;
  const problem = checked.ok
    ? streamCheckProblem(manifest, checked.result)
    : streamFailureReason(checked.error);
  if (problem !== undefined) fail(problem, checked.ok ? undefined : causeOf(checked.error));
}

/** What is wrong with the file's bytes as read from storage (the cheap checks, the plainest message). */
export function storedBytesProblem(
  manifest: Pick<BackupManifest, 'bytes' | 'sha256'>,
  bytes: number,
  sha256: string,
): string | undefined {
  if (bytes !== manifest.bytes)
    return `${bytes} bytes read from storage, the manifest records ${manifest.bytes}`;
  if (sha256 !== manifest.sha256) return `SHA-256 ${sha256} differs from the manifest's ${manifest.sha256}`;
  return undefined;
}

/** A failure to read a backup's file from storage, as the restore reports it. */
export function readFailure(storage: BackupStorage, manifest: BackupManifest, error: unknown): RestoreError {
  if (error instanceof StorageError && error.code === 'STORAGE_NOT_FOUND') {
    return new RestoreError(
      'RESTORE_BACKUP_NOT_FOUND',
      `backup ${manifest.key} has a manifest but its dump is missing from ${storage.location}`,
      { cause: error },
    );
  }
  return new RestoreError(
    'RESTORE_DOWNLOAD_FAILED',
    `downloading ${manifest.key} from ${storage.location} failed: ${errorMessage(error)}`,
    { cause: error },
  );
}

/** Why the integrity check of a restore's stream failed, in the words of `RESTORE_INTEGRITY_FAILED`. */
export function streamFailureReason(error: unknown): string {
  return error instanceof BackupError
    ? error.message.replace(/^integrity check failed: /, '')
    : errorMessage(error);
}

/** The integrity check's own error carries the decompressor's complaint as its cause. */
export function causeOf(error: unknown): unknown {
  return error instanceof BackupError ? error.cause : error;
}

/** What is wrong with a stream that decompressed whole: no trailer, or not the recorded SQL size. */
export function streamCheckProblem(
  manifest: Pick<BackupManifest, 'sql_bytes'>,
  result: IntegrityCheckResult,
): string | undefined {
  if (!hasCompletionTrailer(result.sqlTail)) {
    return 'the SQL does not end with pg_dump\'s "dump complete" trailer (truncated dump)';
  }
  if (result.sqlBytes !== manifest.sql_bytes) {
    return `it decompresses to ${result.sqlBytes} bytes of SQL, the manifest records ${manifest.sql_bytes}`;
  }
  return undefined;
}
