import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { DatabaseProperties } from '@warden/catalog';
import { BackupError, errorMessage, scrubError, scrubSecrets } from '@warden/errors';
import type { Logger } from '@warden/logging';
import {
  type Compression,
  createCompressor,
  pipeThroughCodec,
  standaloneStream,
} from '../codecs/compression.js';
import { createEncryptStream } from '../codecs/encryption.js';
import { propertiesSection } from '../content/database-properties.js';
import { createDumpContentScanner, type DumpContentScanner } from '../content/dump-content.js';
import {
  type DumpSnapshot,
  openDumpSnapshot,
  type SnapshotCounts,
  type SnapshotFacts,
} from '../content/snapshot.js';
import { connectionSecrets, libpqEnv, parseDatabaseUrl } from '../postgres/connection.js';
import { startChild } from '../streams/child-process.js';
import { createChunkCoalescer } from '../streams/coalesce.js';
import { createFanOut, type FanOutTarget } from '../streams/fan-out.js';
import { hasCompletionTrailer } from '../streams/tail-buffer.js';
import { failedStageError, integrityError, isOwnFsError } from './dump-failure.js';
import type { BackupProgress, CreateSpooledBackupOptions } from './dump-options.js';
import { createIntegrityCheck } from './integrity-check.js';
import type { PreflightResult } from './preflight.js';

/** The compressed stream reaches the spool file, integrity check and upload in writes joined up to this size. */
const FAN_OUT_CHUNK_BYTES = 1024 * 1024;

export interface DumpOutcome {
  sha256: string;
  bytes: number;
  sqlBytes: number;
  counts?: SnapshotCounts;
  /** The database's comment and settings, carried in the file's own section (absent: unreadable, so neither). */
  properties?: DatabaseProperties;
  facts?: SnapshotFacts;
  content: ReturnType<DumpContentScanner['finish']>;
}

/**
 * The dump stage: pg_dump in the snapshot, its output through the compressor (and encryption) into
 * the fan-out of spool file, integrity check and streamed upload, after Warden's own section (the
 * database's comment and settings), with the snapshot's counts taken meanwhile. Resolves once
 * every stage succeeded and the `.partial` file is synced; the caller renames it into place.
 */
export async function dumpToFile(
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
      // The encoding the preflight chose, one the dump's names are read exactly in (not PGOPTIONS').
      [
        '--format=plain',
        '--no-password',
        `--snapshot=${snapshot.id}`,
        `--encoding=${preflight.dumpEncoding}`,
      ],
      {
        env: libpqEnv(params, 'warden-backup'),
        stdout: compressor.directInput ? compressor.input : 'pipe',
        signal: kill.signal,
      },
    );
    // pg_dump holds the write end now; ours must close or the compressor never sees the end.
    if (compressor.directInput) compressor.input.destroy();
    log.debug({ compressor: compressor.description }, 'dump started');
    // Read while pg_dump waits on its pipe (a few ms): the section goes ahead of its output.
    const properties = await readProperties(snapshot, kill.signal, (error) =>
      log.warn(
        { err: scrubError(error, secrets) },
        "reading the database's comment and settings failed; the backup continues without them",
      ),
    );
    const section = sectionStream(compression, properties, options);

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
    // First in the stream, before anything the pipeline below brings.
    if (section) coalescer.write(section);

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

    if (signal.aborted) throw abortError();
    const stageFailure = failedStageError({
      spoolError,
      compressor: { description: compressor.description, exit: compressorResult },
      integrityCheckError,
      dump: dumpResult,
      streamError,
      stopped: failed,
      partialPath,
      stderrSuffix,
    });
    if (stageFailure) throw stageFailure;
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
      ...(properties ? { properties } : {}),
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

/** The snapshot's properties; `undefined` when they cannot be read or the dump is being stopped. */
async function readProperties(
  snapshot: DumpSnapshot,
  signal: AbortSignal,
  onError: (error: unknown) => void,
): Promise<DatabaseProperties | undefined> {
  const stopped = new Promise<undefined>((resolve) => {
    if (signal.aborted) resolve(undefined);
    signal.addEventListener('abort', () => resolve(undefined), { once: true });
  });
  const reading = snapshot.properties().catch((error: unknown) => {
    onError(error);
    return undefined;
  });
  return Promise.race([reading, stopped]);
}

/**
 * The database's comment and settings as SQL (content/database-properties.ts), as a stream of the
 * dump's compression of its own, which the compressor's output follows; `undefined` when there are none.
 */
function sectionStream(
  compression: Compression,
  properties: DatabaseProperties | undefined,
  options: CreateSpooledBackupOptions,
): Buffer | undefined {
  const sql = properties ? propertiesSection(properties) : '';
  if (sql === '') return undefined;
  return standaloneStream(
    compression,
    Buffer.from(sql, 'ascii'),
    options.gzipLevel === undefined ? {} : { gzipLevel: options.gzipLevel },
  );
}
