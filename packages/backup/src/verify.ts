import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Transform, Writable } from 'node:stream';
import { type Compression, createDecompressor, pipeThroughCodec } from './compression.js';
import { BackupError, errorMessage } from './errors.js';
import { createTailBuffer, hasCompletionTrailer } from './tail-buffer.js';

export interface VerifyBackupOptions {
  compression: Compression;
  /** Hex SHA-256 the file must have, computed while it was written. */
  expectedSha256?: string;
  signal?: AbortSignal;
  /** Called with the compressed bytes read so far. */
  onProgress?: (bytesRead: number) => void;
  /** zstd binary. @defaultValue 'zstd' */
  zstdPath?: string;
}

export interface VerifyBackupResult {
  /** Hex SHA-256 of the file. */
  sha256: string;
  /** Size of the file. */
  bytes: number;
  /** Bytes of SQL it decompresses to. */
  sqlBytes: number;
}

/**
 * SPEC B4: the whole file decompresses (no truncation, no trailing garbage — what `gzip -t`
 * checks), the SQL ends with pg_dump's completion trailer, and the SHA-256 matches. Throws a
 * `BackupError` with code `INTEGRITY_CHECK_FAILED` otherwise.
 */
export async function verifyBackupFile(
  path: string,
  options: VerifyBackupOptions,
): Promise<VerifyBackupResult> {
  const fail = (reason: string, cause?: unknown): never => {
    throw new BackupError('INTEGRITY_CHECK_FAILED', `integrity check of ${path} failed: ${reason}`, {
      cause,
    });
  };

  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (error) {
    return fail(errorMessage(error), error);
  }

  const hash = createHash('sha256');
  let bytes = 0;
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      bytes += chunk.length;
      options.onProgress?.(bytes);
      callback(null, chunk);
    },
  });
  const tail = createTailBuffer(4096);
  let sqlBytes = 0;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      sqlBytes += chunk.length;
      tail.push(chunk);
      callback();
    },
  });

  const kill = new AbortController();
  const onAbort = () => kill.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const decompressor = createDecompressor(options.compression, kill.signal, options.zstdPath);
  try {
    await pipeThroughCodec([createReadStream(path), hashing], decompressor, [sink], kill.signal);
  } catch (error) {
    kill.abort();
    const exit = await decompressor.exited;
    if (options.signal?.aborted) return fail('aborted', options.signal.reason);
    return fail(
      `the ${options.compression} stream does not decompress: ${exit.failed && exit.message ? exit.message : errorMessage(error)}`,
      error,
    );
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  const exit = await decompressor.exited;
  if (exit.failed) return fail(`the ${options.compression} stream does not decompress: ${exit.message}`);

  const consumed = decompressor.consumedBytes();
  if (consumed !== undefined && consumed !== size) {
    fail(`${size - consumed} bytes of trailing data after the end of the ${options.compression} stream`);
  }
  if (!hasCompletionTrailer(tail.text())) {
    fail('the SQL does not end with pg_dump\'s "dump complete" trailer (truncated dump)');
  }
  const sha256 = hash.digest('hex');
  if (options.expectedSha256 !== undefined && options.expectedSha256.toLowerCase() !== sha256) {
    fail(`SHA-256 ${sha256} differs from the ${options.expectedSha256.toLowerCase()} recorded while writing`);
  }
  return { sha256, bytes, sqlBytes };
}
