import { rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import {
  type BackupManifest,
  backupFileName,
  dumpKeyFor,
  MANIFEST_FORMAT_VERSION,
  sizeMb,
} from '@warden/catalog';
import { BackupError, errorMessage } from '@warden/errors';
import type { Logger } from '@warden/logging';
import {
  assertCompressionLevel,
  assertGzipEngineLevel,
  compressionContentType,
} from '../codecs/compression.js';
import { ENCRYPTED_FILE_SUFFIX, ENCRYPTION_ALGORITHM, keyIdOf } from '../codecs/encryption.js';
import { contentProofOf } from '../content/dump-content.js';
import { type CreateSpooledBackupOptions, type SpooledBackup, spoolFileName } from './dump-options.js';
import { dumpToFile } from './dump-to-file.js';
import { formatBytes, runPreflight } from './preflight.js';
import { startStreamedUpload } from './streamed-upload.js';

/**
 * docs/architecture.md#pipeline: preflight, pg_dump (plain SQL, in the snapshot whose rows are counted) → compression →
 * spool file, then the integrity check. The spool file appears under its final name only when every
 * stage succeeded; on any failure nothing is left in the spool directory.
 */
export async function createSpooledBackup(
  deps: { logger: Logger },
  options: CreateSpooledBackupOptions,
): Promise<SpooledBackup> {
  const { target } = options;
  const now = options.now ?? (() => new Date());
  const compression = options.compression ?? 'gzip';
  const pgDumpPath = options.pgDumpPath ?? 'pg_dump';
  const log = deps.logger.child({ target: target.name, ...(options.jobId ? { jobId: options.jobId } : {}) });
  const startedAt = now();
  const progress = options.onProgress ?? (() => undefined);

  // Bad levels and keys are configuration errors: refuse them before connecting anywhere.
  assertCompressionLevel('gzip', options.gzipLevel);
  if ((options.compression ?? 'gzip') === 'gzip')
    assertGzipEngineLevel(options.gzipEngine ?? 'auto', options.gzipLevel ?? 6);
  assertCompressionLevel('zstd', options.zstdLevel);
  const encryption = options.encryptionKey === undefined ? undefined : encryptionOf(options.encryptionKey);

  progress({ phase: 'preflight', percent: 0, bytes: 0 });
  const preflight = await runPreflight({
    target,
    spoolDir: options.spoolDir,
    minFreeBytes: options.minFreeBytes,
    pgDumpPath,
  });
  log.info(
    {
      serverVersion: preflight.serverVersion,
      pgDumpVersion: preflight.pgDumpVersion,
      databaseBytes: preflight.databaseSizeBytes,
      spoolFree: formatBytes(preflight.spoolFreeBytes),
    },
    'backup preflight passed',
  );
  if (preflight.dumpEncodingProblem)
    log.warn({ encoding: preflight.databaseLocale.encoding }, preflight.dumpEncodingProblem);

  const filename = `${backupFileName(target.database, target.environment, startedAt, compression)}${encryption ? ENCRYPTED_FILE_SUFFIX : ''}`;
  const key = dumpKeyFor(target.name, filename);
  const spoolPath = join(options.spoolDir, spoolFileName(target.name, filename));
  const partialPath = `${spoolPath}.partial`;

  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const abortError = (): BackupError =>
    timeout.aborted && !options.signal?.aborted
      ? new BackupError(
          'PG_DUMP_FAILED',
          `backup of target "${target.name}" timed out after ${options.timeoutMs} ms`,
        )
      : new BackupError('PG_DUMP_FAILED', `backup of target "${target.name}" was aborted`, {
          cause: options.signal?.reason,
        });

  const upload = options.streamUpload
    ? startStreamedUpload(options.streamUpload, {
        key,
        contentType: encryption ? 'application/octet-stream' : compressionContentType(compression),
        expectedSize: preflight.databaseSizeBytes,
      })
    : undefined;

  let renamed = false;
  try {
    const dumped = await dumpToFile(log, options, preflight, partialPath, signal, abortError, progress, {
      ...(encryption ? { encryptionKey: encryption.key } : {}),
      ...(upload ? { upload: upload.target } : {}),
    });
    await rename(partialPath, spoolPath);
    renamed = true;
    const finishedAt = now();
    progress({ phase: 'verify', percent: 100, bytes: dumped.bytes });

    const manifest: BackupManifest = {
      formatVersion: MANIFEST_FORMAT_VERSION,
      status: 'success',
      target: target.name,
      environment: target.environment,
      database: target.database,
      filename,
      key,
      bytes: dumped.bytes,
      size_mb: sizeMb(dumped.bytes),
      sha256: dumped.sha256,
      sql_bytes: dumped.sqlBytes,
      compression,
      ...(encryption ? { encryption: { algorithm: ENCRYPTION_ALGORITHM, keyId: encryption.keyId } } : {}),
      started_at: startedAt.toISOString(),
      finished_at: finishedAt.toISOString(),
      duration_ms: finishedAt.getTime() - startedAt.getTime(),
      location: '',
      server_version: preflight.serverVersion,
      pg_dump_version: preflight.pgDumpVersion,
      host: hostname(),
      ...(options.trigger ? { trigger: options.trigger } : {}),
      ...(options.jobId ? { job_id: options.jobId } : {}),
      tables: dumped.counts?.tables ?? [],
      row_counts_source: dumped.counts?.rowCountsSource ?? 'none',
      ...(dumped.counts ? { schema_objects: dumped.counts.schemaObjects } : {}),
      content: contentProofOf(dumped.content, dumped.facts?.largeObjects),
      ...(dumped.properties
        ? { database_properties: dumped.properties, database_properties_in_dump: true }
        : {}),
      ...(dumped.facts ? { event_triggers: dumped.facts.eventTriggers } : {}),
      database_locale: preflight.databaseLocale,
    };
    log.info(
      { filename, bytes: manifest.bytes, sqlBytes: manifest.sql_bytes, sha256: manifest.sha256 },
      'backup spooled, integrity check passed',
    );
    if (!upload) return { spoolPath, manifest };
    // Every check passed: only now may the upload complete.
    const streamedUpload = await upload.finish();
    if (!streamedUpload.ok) {
      log.warn(
        { err: streamedUpload.error },
        'upload during the dump failed; the spooled dump is uploaded again',
      );
    }
    return { spoolPath, manifest, streamedUpload };
  } catch (error) {
    await upload?.cancel(error);
    await rm(partialPath, { force: true }).catch(() => undefined);
    if (renamed) await rm(spoolPath, { force: true }).catch(() => undefined);
    throw error;
  }
}

function encryptionOf(key: string): { key: string; keyId: string } {
  try {
    return { key, keyId: keyIdOf(key) };
  } catch (error) {
    throw new BackupError('ENCRYPTION_KEY_INVALID', `invalid encryption key: ${errorMessage(error)}`, {
      cause: error,
      permanent: true,
    });
  }
}
