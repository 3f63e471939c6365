import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { PassThrough, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BackupError, errorMessage, isEncryptionError } from '@warden/errors';
import {
  type Compression,
  createDecompressor,
  createKnownGoodDecompressor,
  pipeThroughCodec,
} from '../codecs/compression.js';
import { createDecryptStream, type EncryptionKey, looksEncrypted } from '../codecs/encryption.js';
import { createChunkCoalescer } from '../streams/coalesce.js';
import { createTailBuffer, hasCompletionTrailer } from '../streams/tail-buffer.js';

const SQL_TAIL_BYTES = 4096;
/** What the decompressor is given per write (see createChunkCoalescer). */
const DECOMPRESS_INPUT_BYTES = 1024 * 1024;

export interface BackupFileIntegrityOptions {
  compression: Compression;
  /** Hex SHA-256 the file must have, computed while it was written. */
  expectedSha256?: string;
  /** The file is encrypted (`.enc`): it is decrypted with this key before decompressing. */
  encryptionKey?: EncryptionKey;
  signal?: AbortSignal;
  /** Called with the compressed bytes read so far. */
  onProgress?: (bytesRead: number) => void;
  /** zstd binary. @defaultValue 'zstd' */
  zstdPath?: string;
}

export interface BackupFileIntegrityResult {
  /** Hex SHA-256 of the file. */
  sha256: string;
  /** Size of the file. */
  bytes: number;
  /** Bytes of SQL it decompresses to. */
  sqlBytes: number;
}

export interface IntegrityCheckOptions {
  compression: Compression;
  encryptionKey?: EncryptionKey;
  signal?: AbortSignal;
  zstdPath?: string;
  /** Called with the SQL bytes decompressed so far. */
  onSqlBytes?: (sqlBytes: number) => void;
  /** Sees every decompressed SQL chunk, in order (the content digests read the dump here). */
  onSql?: (chunk: Buffer) => void;
  /**
   * Gets every decompressed SQL chunk after `onSql`; the check waits for a returned promise before
   * it decompresses more (a restore feeds psql from here), and fails with its rejection.
   */
  forwardSql?: (chunk: Buffer) => Promise<void> | undefined;
  /**
   * The stream's size and SHA-256 were (or are being) compared with the manifest's, so only what it
   * decompresses to is in question: it is decompressed by the fastest program at hand, which may
   * not notice bytes after the end of the last gzip member (see createKnownGoodDecompressor).
   * @defaultValue false
   */
  knownGoodBytes?: boolean;
}

export interface IntegrityCheckResult {
  /** Bytes of SQL the stream decompresses to. */
  sqlBytes: number;
  /** The last 4 KiB of that SQL. */
  sqlTail: string;
}

/**
 * Checks a compressed (and possibly encrypted) backup as it streams past: write the file's bytes to
 * `input` and end it. `done` resolves once the whole stream decrypted and decompressed with nothing
 * after its end, or rejects with `INTEGRITY_CHECK_FAILED`. The trailer is the caller's to judge on
 * `sqlTail` (it knows whether a missing trailer is the dump's fault or the file's).
 */
export interface IntegrityCheck {
  readonly input: Writable;
  readonly done: Promise<IntegrityCheckResult>;
}

/** Human-readable name of what a stream failed to be, for messages. */
function formatName(options: { compression: Compression; encryptionKey?: EncryptionKey }): string {
  return options.encryptionKey === undefined ? options.compression : `encrypted ${options.compression}`;
}

export function createIntegrityCheck(options: IntegrityCheckOptions): IntegrityCheck {
  const input = new PassThrough();
  // The last chunks by reference, not copied: a copy per chunk is most of this process's garbage.
  let tail: Buffer[] = [];
  let tailBytes = 0;
  let sqlBytes = 0;
  const sink = new Writable({
    highWaterMark: 256 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      sqlBytes += chunk.length;
      options.onSql?.(chunk);
      tail.push(chunk);
      tailBytes += chunk.length;
      while (tail.length > 1 && tailBytes - (tail[0] as Buffer).length >= SQL_TAIL_BYTES) {
        tailBytes -= (tail.shift() as Buffer).length;
      }
      options.onSqlBytes?.(sqlBytes);
      const forwarded = options.forwardSql?.(chunk);
      if (forwarded) forwarded.then(() => callback(), callback);
      else callback();
    },
  });
  const tailText = (): string => {
    const buffer = createTailBuffer(SQL_TAIL_BYTES);
    for (const chunk of tail) buffer.push(chunk);
    tail = [];
    return buffer.text();
  };
  // What reaches the decompressor, to tell trailing garbage (which gunzip skips silently) from the end.
  let compressedBytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      compressedBytes += chunk.length;
      callback(null, chunk);
    },
  });

  const kill = new AbortController();
  const onAbort = () => kill.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const decompressing = options.knownGoodBytes
    ? createKnownGoodDecompressor(options.compression, kill.signal, options.zstdPath)
    : Promise.resolve(createDecompressor(options.compression, kill.signal, options.zstdPath));
  const coalescer = createChunkCoalescer(DECOMPRESS_INPUT_BYTES);
  const source = options.encryptionKey
    ? [input, createDecryptStream(options.encryptionKey), counter, coalescer]
    : [input, counter, coalescer];
  const name = formatName(options);
  const fail = (reason: string, cause?: unknown): never => {
    throw new BackupError('INTEGRITY_CHECK_FAILED', `integrity check failed: ${reason}`, { cause });
  };

  const done = (async (): Promise<IntegrityCheckResult> => {
    const decompressor = await decompressing;
    try {
      await pipeThroughCodec(source, decompressor, [sink], kill.signal);
    } catch (error) {
      kill.abort();
      const exit = await decompressor.exited;
      if (options.signal?.aborted) return fail('aborted', options.signal.reason);
      if (isEncryptionError(error))
        return fail(`the ${name} stream does not decrypt: ${error.message}`, error);
      return fail(
        `the ${name} stream does not decompress: ${exit.failed && exit.message ? exit.message : errorMessage(error)}`,
        error,
      );
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
    const exit = await decompressor.exited;
    if (exit.failed) return fail(`the ${name} stream does not decompress: ${exit.message}`);
    const consumed = decompressor.consumedBytes();
    if (consumed !== undefined && consumed !== compressedBytes) {
      fail(
        `${compressedBytes - consumed} bytes of trailing data after the end of the ${options.compression} stream`,
      );
    }
    return { sqlBytes, sqlTail: tailText() };
  })();
  // Observed by whoever awaits `done`; this only keeps an early failure from counting as unhandled.
  done.catch(() => undefined);
  return { input, done };
}

/**
 * docs/architecture.md#pipeline on a file at rest: the whole file decompresses (no truncation, no trailing garbage — what
 * `gzip -t` checks), the SQL ends with pg_dump's completion trailer, and the SHA-256 matches. Throws a
 * `BackupError` with code `INTEGRITY_CHECK_FAILED` otherwise. (A new backup is checked while it is
 * written, by {@link createIntegrityCheck}; this re-checks a stored or kept file.)
 */
export async function checkBackupFileIntegrity(
  path: string,
  options: BackupFileIntegrityOptions,
): Promise<BackupFileIntegrityResult> {
  const fail = (reason: string, cause?: unknown): never => {
    throw new BackupError('INTEGRITY_CHECK_FAILED', `integrity check of ${path} failed: ${reason}`, {
      cause,
    });
  };

  try {
    await stat(path);
  } catch (error) {
    return fail(errorMessage(error), error);
  }

  const hash = createHash('sha256');
  let bytes = 0;
  let encryptedWithoutKey = false;
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (bytes === 0 && options.encryptionKey === undefined && looksEncrypted(chunk)) {
        encryptedWithoutKey = true;
        callback(new Error('encrypted backup'));
        return;
      }
      hash.update(chunk);
      bytes += chunk.length;
      options.onProgress?.(bytes);
      callback(null, chunk);
    },
  });
  const check = createIntegrityCheck({
    compression: options.compression,
    ...(options.encryptionKey === undefined ? {} : { encryptionKey: options.encryptionKey }),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.zstdPath === undefined ? {} : { zstdPath: options.zstdPath }),
  });
  const reading = pipeline(createReadStream(path), hashing, check.input);
  const [checked, read] = await Promise.allSettled([check.done, reading]);
  if (encryptedWithoutKey) {
    return fail('the file is encrypted (.enc); checking it needs the encryption key (BACKUP_ENCRYPTION_KEY)');
  }
  // The decompressor's own complaint is the cause; the reading side then only saw its input close.
  if (checked.status === 'rejected') {
    const error = checked.reason as unknown;
    const reason =
      error instanceof BackupError
        ? error.message.replace(/^integrity check failed: /, '')
        : errorMessage(error);
    return fail(reason, error instanceof BackupError ? error.cause : error);
  }
  if (read.status === 'rejected') return fail(errorMessage(read.reason), read.reason);
  const result = checked.value;
  if (!hasCompletionTrailer(result.sqlTail)) {
    fail('the SQL does not end with pg_dump\'s "dump complete" trailer (truncated dump)');
  }
  const sha256 = hash.digest('hex');
  if (options.expectedSha256 !== undefined && options.expectedSha256.toLowerCase() !== sha256) {
    fail(`SHA-256 ${sha256} differs from the ${options.expectedSha256.toLowerCase()} recorded while writing`);
  }
  return { sha256, bytes, sqlBytes: result.sqlBytes };
}
