import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import type { Logger } from '@warden/logging';
import { execa } from 'execa';
import {
  assertCompressionLevel,
  type Compression,
  createCompressor,
  pipeThroughCodec,
} from './compression.js';
import { connectionSecrets, libpqEnv, parseDatabaseUrl, scrubSecrets } from './connection.js';
import { BackupError, errorMessage, STDERR_TAIL_BYTES } from './errors.js';
import {
  type BackupManifest,
  backupFileName,
  dumpKeyFor,
  MANIFEST_FORMAT_VERSION,
  sizeMb,
} from './manifest.js';
import { formatBytes, type PreflightResult, runPreflight, scrubError } from './preflight.js';
import { type DumpSnapshot, openDumpSnapshot, type SnapshotCounts } from './snapshot.js';
import { createTailBuffer, hasCompletionTrailer } from './tail-buffer.js';
import type { BackupTargetSpec } from './target.js';
import { verifyBackupFile } from './verify.js';

export interface BackupProgress {
  phase: 'preflight' | 'dump' | 'verify';
  /** 0–100; estimated from SQL bytes against `pg_database_size` while dumping, never 100 before the end. */
  percent: number;
  /** SQL bytes dumped (phase `dump`) or compressed bytes checked (phase `verify`). */
  bytes: number;
}

export interface CreateSpooledBackupOptions {
  target: BackupTargetSpec;
  /** Directory for the local copy before upload; created when missing. */
  spoolDir: string;
  /** Refuse to start with less free space than this in `spoolDir`. */
  minFreeBytes: number;
  /** @defaultValue 'gzip' */
  compression?: Compression;
  /** gzip level 1–9 (pigz or Node zlib). @defaultValue 6 */
  gzipLevel?: number;
  /** zstd level 1–19. @defaultValue 3 */
  zstdLevel?: number;
  /** zstd binary (compression `zstd`). @defaultValue 'zstd' */
  zstdPath?: string;
  /** Exact `count(*)` per table in the dump's snapshot; `false` records statistics estimates instead. @defaultValue true */
  rowCounts?: boolean;
  /** @defaultValue 'pg_dump' */
  pgDumpPath?: string;
  /** Limit for dump plus integrity check; the backup fails (and cleans up) after it. */
  timeoutMs: number;
  /** Who asked: `schedule`, `api`, `cli`, … (recorded in the manifest). */
  trigger?: string;
  jobId?: string;
  /** @defaultValue () => new Date() */
  now?: () => Date;
  onProgress?: (progress: BackupProgress) => void;
  signal?: AbortSignal;
}

/** A verified dump in the spool directory, waiting for upload. */
export interface SpooledBackup {
  spoolPath: string;
  /** Complete except `location`, which is `''` until the upload sets it. */
  manifest: BackupManifest;
}

const SQL_TAIL_BYTES = 4096;

/** Spool names carry the target so that two targets with the same database name never collide. */
export function spoolFileName(target: string, filename: string): string {
  return `${target}.${filename}`;
}

/**
 * SPEC B2/B4: preflight, pg_dump (plain SQL, in the snapshot whose rows are counted) → compression →
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

  // Bad levels are configuration errors: refuse them before connecting anywhere.
  assertCompressionLevel('gzip', options.gzipLevel);
  assertCompressionLevel('zstd', options.zstdLevel);

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

  const filename = backupFileName(target.database, target.environment, startedAt, compression);
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

  let renamed = false;
  try {
    const dumped = await dumpToFile(log, options, preflight, partialPath, signal, abortError, progress);
    await rename(partialPath, spoolPath);
    renamed = true;

    progress({ phase: 'verify', percent: 99, bytes: 0 });
    const verified = await verifyBackupFile(spoolPath, {
      compression,
      expectedSha256: dumped.sha256,
      ...(options.zstdPath === undefined ? {} : { zstdPath: options.zstdPath }),
      signal,
      onProgress: (bytes) => progress({ phase: 'verify', percent: 99, bytes }),
    }).catch((error: unknown) => {
      throw signal.aborted ? abortError() : error;
    });
    if (verified.sqlBytes !== dumped.sqlBytes) {
      throw new BackupError(
        'INTEGRITY_CHECK_FAILED',
        `integrity check of ${spoolPath} failed: it decompresses to ${verified.sqlBytes} bytes of SQL, ${dumped.sqlBytes} were written`,
      );
    }
    const finishedAt = now();
    progress({ phase: 'verify', percent: 100, bytes: verified.bytes });

    const manifest: BackupManifest = {
      formatVersion: MANIFEST_FORMAT_VERSION,
      status: 'success',
      target: target.name,
      environment: target.environment,
      database: target.database,
      filename,
      key: dumpKeyFor(target.name, filename),
      bytes: verified.bytes,
      size_mb: sizeMb(verified.bytes),
      sha256: verified.sha256,
      sql_bytes: dumped.sqlBytes,
      compression,
      started_at: startedAt.toISOString(),
      finished_at: finishedAt.toISOString(),
      duration_ms: finishedAt.getTime() - startedAt.getTime(),
      location: '',
      server_version: preflight.serverVersion,
      pg_dump_version: preflight.pgDumpVersion,
      host: hostname(),
      ...(options.trigger ? { trigger: options.trigger } : {}),
      ...(options.jobId ? { job_id: options.jobId } : {}),
      row_counts: dumped.counts?.rowCounts ?? {},
      row_counts_source: dumped.counts?.rowCountsSource ?? 'none',
      ...(dumped.counts ? { schema_objects: dumped.counts.schemaObjects } : {}),
    };
    log.info(
      { filename, bytes: manifest.bytes, sqlBytes: manifest.sql_bytes, sha256: manifest.sha256 },
      'backup spooled and verified',
    );
    return { spoolPath, manifest };
  } catch (error) {
    await rm(partialPath, { force: true }).catch(() => undefined);
    if (renamed) await rm(spoolPath, { force: true }).catch(() => undefined);
    throw error;
  }
}

interface DumpOutcome {
  sha256: string;
  bytes: number;
  sqlBytes: number;
  counts?: SnapshotCounts;
}

async function dumpToFile(
  log: Logger,
  options: CreateSpooledBackupOptions,
  preflight: PreflightResult,
  partialPath: string,
  signal: AbortSignal,
  abortError: () => BackupError,
  progress: (p: BackupProgress) => void,
): Promise<DumpOutcome> {
  const { target } = options;
  const secrets = connectionSecrets(target.databaseUrl);
  const scrub = (text: string) => scrubSecrets(text, secrets);
  const params = parseDatabaseUrl(target.databaseUrl);
  if (signal.aborted) throw abortError();

  let snapshot: DumpSnapshot;
  try {
    snapshot = await openDumpSnapshot(target.databaseUrl);
  } catch (error) {
    throw new BackupError(
      'PREFLIGHT_CONNECT_FAILED',
      `cannot open the dump snapshot on target "${target.name}": ${scrub(errorMessage(error))}`,
      { cause: scrubError(error, secrets) },
    );
  }

  /*
   * Stages are not killed on the first error: a broken pipe ends the others by itself (EOF, EPIPE,
   * SIGPIPE), and their exit statuses then tell cause from fallout (see the classification below).
   * Only the caller's abort or timeout, or a stage still running 10 s after a failure, kills.
   */
  const kill = new AbortController();
  const onAbort = () => kill.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  let failed = false;
  let graceTimer: NodeJS.Timeout | undefined;
  const failing = () => {
    failed = true;
    graceTimer ??= setTimeout(() => kill.abort(new Error('stage did not stop after a failure')), 10_000);
    graceTimer.unref();
  };

  try {
    // Connection settings travel in libpq's environment: argv is visible to every local user.
    const pgDump = execa(
      options.pgDumpPath ?? 'pg_dump',
      ['--format=plain', '--no-password', `--snapshot=${snapshot.id}`],
      {
        env: libpqEnv(params, 'warden-backup'),
        buffer: false,
        stdin: 'ignore',
        stdout: 'pipe',
        stderr: 'pipe',
        reject: false,
        cancelSignal: kill.signal,
      },
    );
    const stderr = createTailBuffer(STDERR_TAIL_BYTES);
    pgDump.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));

    const compressor = await createCompressor(options.compression ?? 'gzip', {
      ...(options.gzipLevel === undefined ? {} : { gzipLevel: options.gzipLevel }),
      ...(options.zstdLevel === undefined ? {} : { zstdLevel: options.zstdLevel }),
      ...(options.zstdPath === undefined ? {} : { zstdPath: options.zstdPath }),
      signal: kill.signal,
    });
    log.debug({ compressor: compressor.description }, 'dump started');

    const sqlTail = createTailBuffer(SQL_TAIL_BYTES);
    let sqlBytes = 0;
    let lastPercent = -1;
    const databaseSize = Math.max(preflight.databaseSizeBytes, 1);
    const sqlCounter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        sqlBytes += chunk.length;
        sqlTail.push(chunk);
        const percent = Math.min(99, Math.floor((sqlBytes / databaseSize) * 100));
        if (percent !== lastPercent) {
          lastPercent = percent;
          progress({ phase: 'dump', percent, bytes: sqlBytes });
        }
        callback(null, chunk);
      },
    });
    const hash = createHash('sha256');
    let bytes = 0;
    const hasher = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        bytes += chunk.length;
        callback(null, chunk);
      },
    });
    // 0600: the dump holds the whole database.
    const file = createWriteStream(partialPath, { flags: 'wx', mode: 0o600 });

    // The spool file's own errors (disk full, I/O) are the one failure no exit status reports.
    let spoolError: NodeJS.ErrnoException | undefined;
    file.on('error', (error: NodeJS.ErrnoException) => {
      if (isOwnFsError(error)) spoolError ??= error;
    });
    let streamError: unknown;

    const dumpExit = pgDump.then((result) => {
      if (result.failed) failing();
      return result;
    });
    const compressorExit = compressor.exited.then((exit) => {
      if (exit.failed) failing();
      return exit;
    });
    const flow = pipeThroughCodec([pgDump.stdout, sqlCounter], compressor, [hasher, file], kill.signal).catch(
      (error: unknown) => {
        streamError = error;
        failing();
      },
    );
    // Counting runs while pg_dump dumps: both read the same snapshot.
    const counting = snapshot.count(options.rowCounts !== false).then(
      (counts) => counts,
      (error: unknown) => {
        log.warn(
          { err: scrubError(error, secrets) },
          'row counting failed; the backup continues without counts',
        );
        return undefined;
      },
    );

    const [dumpResult, compressorResult] = await Promise.all([dumpExit, compressorExit, flow]);
    const stderrText = scrub(stderr.text().trim());
    const stderrSuffix = stderrText ? `: ${stderrText}` : '';

    // Most specific cause first. A compressor never fails because pg_dump did (it just sees EOF),
    // but pg_dump is killed when the compressor dies, and both when the spool file cannot be written.
    if (signal.aborted) throw abortError();
    if (spoolError) throw spoolWriteError(spoolError, partialPath);
    if (compressorResult.failed) {
      throw new BackupError(
        'COMPRESSION_FAILED',
        `${compressor.description} failed: ${compressorResult.message}`,
      );
    }
    if (dumpResult.failed && !dumpResult.isCanceled) {
      if ((dumpResult as { code?: string }).code === 'ENOENT') {
        throw new BackupError('PG_DUMP_NOT_FOUND', 'pg_dump disappeared between preflight and dump');
      }
      const how =
        dumpResult.exitCode === undefined
          ? `was ended by ${dumpResult.signal ?? 'an error'}`
          : `exited with code ${dumpResult.exitCode}`;
      throw new BackupError('PG_DUMP_FAILED', `pg_dump ${how}${stderrSuffix}`);
    }
    if (streamError !== undefined || failed) {
      throw new BackupError(
        'PG_DUMP_FAILED',
        `dump stream failed: ${errorMessage(streamError ?? 'a stage was stopped')}${stderrSuffix}`,
        { cause: streamError },
      );
    }
    const counts = await counting;
    if (!hasCompletionTrailer(sqlTail.text())) {
      failed = true;
      throw new BackupError(
        'PG_DUMP_FAILED',
        `pg_dump exited 0 but its output (${sqlBytes} bytes) lacks the "dump complete" trailer; the dump is incomplete${stderrSuffix}`,
      );
    }
    if (stderrText) log.warn({ stderr: stderrText }, 'pg_dump reported warnings');

    // Contents must be on disk before the rename makes the file count as complete.
    const handle = await open(partialPath, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    progress({ phase: 'dump', percent: 99, bytes: sqlBytes });
    return {
      sha256: hash.digest('hex'),
      bytes,
      sqlBytes,
      ...(counts ? { counts } : {}),
    };
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    signal.removeEventListener('abort', onAbort);
    if (graceTimer) clearTimeout(graceTimer);
    kill.abort();
    // After a failure the transaction is simply dropped: a COMMIT would wait for a running count.
    await snapshot.close(!failed).catch((error: unknown) => {
      log.warn({ err: scrubError(error, secrets) }, 'closing the dump snapshot failed');
    });
  }
}

/** Errors the file stream raised itself, as opposed to an upstream error the pipeline forwarded to it. */
function isOwnFsError(error: NodeJS.ErrnoException): boolean {
  return (
    typeof error.syscall === 'string' &&
    error.code !== 'EPIPE' &&
    !String(error.code ?? '').startsWith('ERR_')
  );
}

function spoolWriteError(error: NodeJS.ErrnoException, partialPath: string): BackupError {
  if (error.code === 'ENOSPC' || error.code === 'EDQUOT') {
    return new BackupError('INSUFFICIENT_SPACE', `spool file system full while writing ${partialPath}`, {
      cause: error,
    });
  }
  return new BackupError(
    'COMPRESSION_FAILED',
    `cannot write the compressed dump to ${partialPath}: ${errorMessage(error)}`,
    { cause: error },
  );
}
