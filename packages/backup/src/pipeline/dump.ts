import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  type BackupManifest,
  backupFileName,
  dumpKeyFor,
  MANIFEST_FORMAT_VERSION,
  sizeMb,
} from '@warden/catalog';
import { BackupError, errorMessage, scrubError, scrubSecrets } from '@warden/errors';
import type { Logger } from '@warden/logging';
import {
  assertCompressionLevel,
  assertGzipEngineLevel,
  type Compression,
  compressionContentType,
  createCompressor,
  type GzipEngine,
  pipeThroughCodec,
} from '../codecs/compression.js';
import {
  createEncryptStream,
  ENCRYPTED_FILE_SUFFIX,
  ENCRYPTION_ALGORITHM,
  keyIdOf,
} from '../codecs/encryption.js';
import {
  contentProofOf,
  createDumpContentScanner,
  type DumpContentScanner,
} from '../content/dump-content.js';
import {
  type DumpSnapshot,
  openDumpSnapshot,
  type SnapshotCounts,
  type SnapshotFacts,
} from '../content/snapshot.js';
import { connectionSecrets, libpqEnv, parseDatabaseUrl } from '../postgres/connection.js';
import { describeExit, startChild } from '../streams/child-process.js';
import { createChunkCoalescer } from '../streams/coalesce.js';
import { createFanOut, type FanOutTarget } from '../streams/fan-out.js';
import { hasCompletionTrailer } from '../streams/tail-buffer.js';
import { createIntegrityCheck } from './integrity-check.js';
import { formatBytes, type PreflightResult, runPreflight } from './preflight.js';
import type { BackupTargetSpec } from './target.js';

export interface BackupProgress {
  /** `verify` is the integrity check; phase words are read from job progress, so they stay. */
  phase: 'preflight' | 'dump' | 'verify';
  /** 0–100; estimated from SQL bytes against `pg_database_size` while dumping, never 100 before the end. */
  percent: number;
  /** SQL bytes dumped (phase `dump`) or compressed bytes checked (phase `verify`). */
  bytes: number;
}

/** The compressed stream reaches the spool file, integrity check and upload in writes joined up to this size. */
const FAN_OUT_CHUNK_BYTES = 1024 * 1024;

export interface CreateSpooledBackupOptions {
  target: BackupTargetSpec;
  /** Directory for the local copy before upload; created when missing. */
  spoolDir: string;
  /** Refuse to start with less free space than this in `spoolDir`. */
  minFreeBytes: number;
  /** @defaultValue 'gzip' */
  compression?: Compression;
  /** gzip level 1–9 (igzip only 1–3). @defaultValue 6 */
  gzipLevel?: number;
  /** zstd level 1–19. @defaultValue 3 */
  zstdLevel?: number;
  /** Program that writes gzip (see {@link GzipEngine}). @defaultValue 'auto' */
  gzipEngine?: GzipEngine;
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
  /**
   * Client-side encryption at rest: 64 hex characters (`BACKUP_ENCRYPTION_KEY`). The compressed
   * stream is encrypted (AES-256-GCM, see `encryption.ts`), the file name gets `.enc`, and the
   * manifest records the key id. @defaultValue no encryption
   */
  encryptionKey?: string | undefined;
  /**
   * Upload while dumping: called once with the stream of the file's bytes as they are written. The
   * stream ends only after every check passed, and is destroyed when the backup fails, so an upload
   * that completes on its end never stores a bad dump. The spool file is written all the same; a
   * failed streamed upload leaves it for the retries (docs/architecture.md#upload-retries). @defaultValue no streamed upload
   */
  streamUpload?: (body: Readable, info: StreamUploadInfo) => Promise<unknown>;
}

export interface StreamUploadInfo {
  /** Storage key of the dump, `<target>/<filename>`. */
  key: string;
  contentType: string;
  /** An upper estimate of the file size (the database size), to choose a part size from. */
  expectedSize: number;
}

/** A dump that passed its integrity check, in the spool directory, waiting for upload. */
export interface SpooledBackup {
  spoolPath: string;
  /** Complete except `location`, which is `''` until the upload sets it. */
  manifest: BackupManifest;
  /** How the streamed upload (`streamUpload`) went, when there was one. */
  streamedUpload?: { ok: true } | { ok: false; error: unknown };
}

/** Spool names carry the target so that two targets with the same database name never collide. */
export function spoolFileName(target: string, filename: string): string {
  return `${target}.${filename}`;
}

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
      ...(dumped.facts
        ? { database_properties: dumped.facts.properties, event_triggers: dumped.facts.eventTriggers }
        : {}),
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

interface StreamedUpload {
  /** The fan-out target that feeds the upload; never ended by the fan-out. */
  target: FanOutTarget;
  /** Ends the body (letting the upload complete) and waits for the outcome. */
  finish(): Promise<{ ok: true } | { ok: false; error: unknown }>;
  /** Stops the upload (a multipart upload is aborted, nothing is stored) and waits for it to settle. */
  cancel(reason: unknown): Promise<void>;
}

function startStreamedUpload(
  streamUpload: NonNullable<CreateSpooledBackupOptions['streamUpload']>,
  info: StreamUploadInfo,
): StreamedUpload {
  const body = new PassThrough({ highWaterMark: 1024 * 1024 });
  let detached: unknown;
  const outcome: Promise<{ ok: true } | { ok: false; error: unknown }> = Promise.resolve()
    .then(() => streamUpload(body, info))
    .then(
      () => ({ ok: true as const }),
      (error: unknown) => {
        body.destroy();
        return { ok: false as const, error };
      },
    );
  return {
    target: {
      stream: body,
      end: false,
      optional: true,
      onDetach: (error) => {
        detached = error;
      },
    },
    async finish() {
      if (detached === undefined && !body.destroyed) body.end();
      return outcome;
    },
    async cancel(reason) {
      if (!body.destroyed) {
        body.destroy(new Error(`the backup failed: ${errorMessage(reason)}`));
      }
      await outcome;
    },
  };
}

interface DumpOutcome {
  sha256: string;
  bytes: number;
  sqlBytes: number;
  counts?: SnapshotCounts;
  facts?: SnapshotFacts;
  content: ReturnType<DumpContentScanner['finish']>;
}

async function dumpToFile(
  log: Logger,
  options: CreateSpooledBackupOptions,
  preflight: PreflightResult,
  partialPath: string,
  signal: AbortSignal,
  abortError: () => BackupError,
  progress: (p: BackupProgress) => void,
  extra: { encryptionKey?: string; upload?: FanOutTarget },
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
    const compression = options.compression ?? 'gzip';
    const compressor = await createCompressor(compression, {
      ...(options.gzipLevel === undefined ? {} : { gzipLevel: options.gzipLevel }),
      ...(options.zstdLevel === undefined ? {} : { zstdLevel: options.zstdLevel }),
      ...(options.zstdPath === undefined ? {} : { zstdPath: options.zstdPath }),
      ...(options.gzipEngine === undefined ? {} : { gzipEngine: options.gzipEngine }),
      signal: kill.signal,
    });
    /*
     * A compressor process reads pg_dump's output straight from its pipe: the SQL never passes
     * through Node (half the CPU this process would spend, and most of its garbage). Its size, end
     * and trailer are seen on the way back, by the integrity check that decompresses what is written.
     * Connection settings travel in libpq's environment: argv is visible to every local user.
     */
    const pgDump = startChild(
      options.pgDumpPath ?? 'pg_dump',
      ['--format=plain', '--no-password', `--snapshot=${snapshot.id}`],
      {
        env: libpqEnv(params, 'warden-backup'),
        stdout: compressor.directInput ? compressor.input : 'pipe',
        signal: kill.signal,
      },
    );
    // pg_dump holds the write end now; ours must close or the compressor never sees the end.
    if (compressor.directInput) compressor.input.destroy();
    log.debug({ compressor: compressor.description }, 'dump started');

    let lastPercent = -1;
    const databaseSize = Math.max(preflight.databaseSizeBytes, 1);
    const onSqlBytes = (sqlBytes: number) => {
      const percent = Math.min(99, Math.floor((sqlBytes / databaseSize) * 100));
      if (percent !== lastPercent) {
        lastPercent = percent;
        progress({ phase: 'dump', percent, bytes: sqlBytes });
      }
    };
    // 0600: the dump holds the whole database.
    const file = createWriteStream(partialPath, { flags: 'wx', mode: 0o600, highWaterMark: 256 * 1024 });

    // The spool file's own errors (disk full, I/O) are the one failure no exit status reports.
    let spoolError: NodeJS.ErrnoException | undefined;
    file.on('error', (error: NodeJS.ErrnoException) => {
      if (isOwnFsError(error)) spoolError ??= error;
    });
    let streamError: unknown;

    /*
     * The integrity check without a second pass: the bytes going to the spool file are decrypted and decompressed as
     * they are written (zlib runs on the thread pool, beside the compressor) and hashed on the way;
     * only a stream that decompresses whole, with nothing after its end, counts.
     */
    const scanner = createDumpContentScanner();
    const integrityCheck = createIntegrityCheck({
      onSql: scanner.write,
      compression,
      ...(extra.encryptionKey === undefined ? {} : { encryptionKey: extra.encryptionKey }),
      ...(options.zstdPath === undefined ? {} : { zstdPath: options.zstdPath }),
      signal: kill.signal,
      onSqlBytes,
    });
    let integrityCheckError: unknown;
    // Settles once the fan-out ended or destroyed its input, so awaiting it below cannot hang.
    const integrityChecked = integrityCheck.done.then(
      (result) => result,
      (error: unknown) => {
        integrityCheckError = error;
        failing();
        return undefined;
      },
    );
    const hash = createHash('sha256');
    let bytes = 0;
    const fanOut = createFanOut(
      [{ stream: file }, { stream: integrityCheck.input }, ...(extra.upload ? [extra.upload] : [])],
      (chunk) => {
        hash.update(chunk);
        bytes += chunk.length;
      },
    );
    // A pipe delivers 64 KiB at a time; every target pays per write (a thread-pool round trip for
    // zlib and the spool file). 1 MiB writes: 0.4 CPU-seconds less for a 69 MB backup, same peak RSS.
    const coalescer = createChunkCoalescer(FAN_OUT_CHUNK_BYTES);
    const sink =
      extra.encryptionKey === undefined
        ? [coalescer, fanOut]
        : [coalescer, createEncryptStream(extra.encryptionKey), fanOut];

    const dumpExit = pgDump.exited.then((exit) => {
      if (exit.failed) failing();
      return exit;
    });
    const compressorExit = compressor.exited.then((exit) => {
      if (exit.failed) failing();
      return exit;
    });
    const flow = (
      compressor.directInput
        ? pipeline([compressor.output, ...sink], { signal: kill.signal })
        : pipeThroughCodec([pgDump.stdout as Readable], compressor, sink, kill.signal)
    ).catch((error: unknown) => {
      streamError = error;
      failing();
    });
    // Counting runs while pg_dump dumps: both read the same snapshot.
    const counting = (async () => {
      const counts = await snapshot.count(options.rowCounts !== false);
      return { counts, facts: await snapshot.facts() };
    })().then(
      (counted) => counted,
      (error: unknown) => {
        log.warn(
          { err: scrubError(error, secrets) },
          'row counting failed; the backup continues without counts',
        );
        return undefined;
      },
    );

    const [dumpResult, compressorResult, , checked] = await Promise.all([
      dumpExit,
      compressorExit,
      flow,
      integrityChecked,
    ]);
    const stderrText = scrub(dumpResult.stderr);
    const stderrSuffix = stderrText ? `: ${stderrText}` : '';

    // Most specific cause first. A compressor never fails because pg_dump did (it just sees EOF),
    // but pg_dump is killed when the compressor dies, and both when the spool file cannot be written
    // or the integrity check rejects the stream (the compressor then dies of a broken pipe).
    if (signal.aborted) throw abortError();
    if (spoolError) throw spoolWriteError(spoolError, partialPath);
    if (compressorResult.failed && !(integrityCheckError !== undefined && compressorResult.brokenPipe)) {
      throw new BackupError(
        'COMPRESSION_FAILED',
        `${compressor.description} failed: ${compressorResult.message}`,
      );
    }
    if (integrityCheckError !== undefined) throw integrityError(integrityCheckError, partialPath);
    if (dumpResult.failed) {
      if (dumpResult.errorCode === 'ENOENT') {
        throw new BackupError('PG_DUMP_NOT_FOUND', 'pg_dump disappeared between preflight and dump');
      }
      throw new BackupError('PG_DUMP_FAILED', `pg_dump ${describeExit(dumpResult)}${stderrSuffix}`);
    }
    if (streamError !== undefined || failed) {
      throw new BackupError(
        'PG_DUMP_FAILED',
        `dump stream failed: ${errorMessage(streamError ?? 'a stage was stopped')}${stderrSuffix}`,
        { cause: streamError },
      );
    }
    const counted = await counting;
    if (checked === undefined) {
      failed = true;
      throw integrityError(integrityCheckError, partialPath);
    }
    // The stream decompressed whole and its checksums held, so it is what pg_dump wrote: a missing
    // trailer means pg_dump stopped early (a valid gzip of an incomplete dump).
    const sqlBytes = checked.sqlBytes;
    if (!hasCompletionTrailer(checked.sqlTail)) {
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
    // The file is checked through what was written to it; its size shows that all of it arrived.
    const written = (await stat(partialPath)).size;
    if (written !== bytes) {
      failed = true;
      throw new BackupError(
        'INTEGRITY_CHECK_FAILED',
        `integrity check of ${partialPath} failed: it has ${written} bytes, ${bytes} were written`,
      );
    }
    progress({ phase: 'dump', percent: 99, bytes: sqlBytes });
    return {
      sha256: hash.digest('hex'),
      bytes,
      sqlBytes,
      ...(counted ?? {}),
      content: scanner.finish(),
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

function integrityError(error: unknown, partialPath: string): BackupError {
  if (error instanceof BackupError) {
    return new BackupError(
      'INTEGRITY_CHECK_FAILED',
      error.message.replace(/^integrity check failed/, `integrity check of ${partialPath} failed`),
      { cause: error.cause },
    );
  }
  return new BackupError(
    'INTEGRITY_CHECK_FAILED',
    `integrity check of ${partialPath} failed: ${errorMessage(error)}`,
    { cause: error },
  );
}

function spoolWriteError(error: NodeJS.ErrnoException, partialPath: string): BackupError {
  if (error.code === 'ENOSPC' || error.code === 'EDQUOT') {
    return new BackupError('INSUFFICIENT_SPACE', `spool file system full while writing ${partialPath}`, {
      cause: error,
    });
  }
  return new BackupError(
    'SPOOL_WRITE_FAILED',
    `cannot write the compressed dump to ${partialPath}: ${errorMessage(error)}`,
    { cause: error },
  );
}
