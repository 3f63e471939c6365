import { availableParallelism } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { execa } from 'execa';
import { BackupError, STDERR_TAIL_BYTES } from './errors.js';
import { createTailBuffer } from './tail-buffer.js';

export type Compression = 'gzip' | 'zstd';

/** A compressor or decompressor in the middle of a stream pipeline, in-process or a child process. */
export interface CodecStage {
  /** Human-readable command, for logs and messages. */
  readonly description: string;
  readonly input: Writable;
  readonly output: Readable;
  /** Settles when a child process has ended; always resolves, never rejects. */
  readonly exited: Promise<CodecExit>;
  /** Compressed bytes consumed so far (decompressors only; `undefined` for child processes). */
  consumedBytes(): number | undefined;
  kill(): void;
}

export interface CodecExit {
  /** The stage failed on its own (not because it was cancelled). */
  failed: boolean;
  cancelled: boolean;
  message?: string;
}

export interface CompressorOptions {
  /** @defaultValue 6 */
  gzipLevel?: number;
  /** @defaultValue 3 */
  zstdLevel?: number;
  /** Kills a child compressor when aborted. */
  signal?: AbortSignal;
  /** `false` forces Node's zlib even when pigz is installed. @defaultValue true */
  allowPigz?: boolean;
  /** zstd binary. @defaultValue 'zstd' */
  zstdPath?: string;
}

/** Throws a permanent `COMPRESSION_FAILED` for a level the compressor would reject or silently clamp. */
export function assertCompressionLevel(compression: Compression, level: number | undefined): void {
  if (level === undefined) return;
  const max = compression === 'zstd' ? 19 : 9;
  if (!Number.isInteger(level) || level < 1 || level > max) {
    throw new BackupError(
      'COMPRESSION_FAILED',
      `${compression} level must be an integer from 1 to ${max}, got ${level}`,
      {
        permanent: true,
      },
    );
  }
}

let pigzDetection: Promise<boolean> | undefined;

/** Whether `pigz` runs; checked once per process. */
export function detectPigz(): Promise<boolean> {
  pigzDetection ??= execa('pigz', ['--version'], { reject: false, timeout: 5000, stdin: 'ignore' }).then(
    (result) => !result.failed,
    () => false,
  );
  return pigzDetection;
}

export function compressionContentType(compression: Compression): string {
  return compression === 'zstd' ? 'application/zstd' : 'application/gzip';
}

export async function createCompressor(
  compression: Compression,
  options: CompressorOptions = {},
): Promise<CodecStage> {
  if (compression === 'zstd') {
    const level = options.zstdLevel ?? 3;
    assertCompressionLevel('zstd', level);
    return spawnCodec(options.zstdPath ?? 'zstd', ['-T0', `-${level}`, '-q', '-c'], options.signal);
  }
  const level = options.gzipLevel ?? 6;
  assertCompressionLevel('gzip', level);
  if (options.allowPigz !== false && (await detectPigz())) {
    return spawnCodec('pigz', ['-p', String(availableParallelism()), `-${level}`, '-c'], options.signal);
  }
  const gzip = createGzip({ level, chunkSize: 64 * 1024 });
  return inProcessCodec(`zlib gzip level ${level}`, gzip);
}

export function createDecompressor(
  compression: Compression,
  signal?: AbortSignal,
  zstdPath = 'zstd',
): CodecStage {
  if (compression === 'zstd') return spawnCodec(zstdPath, ['-d', '-q', '-c'], signal);
  // The default finish flush makes a truncated stream an error ("unexpected end of file").
  const gunzip = createGunzip();
  return inProcessCodec('zlib gunzip', gunzip, () => gunzip.bytesWritten);
}

function inProcessCodec(
  description: string,
  stream: import('node:stream').Transform,
  consumed?: () => number,
): CodecStage {
  return {
    description,
    input: stream,
    output: stream,
    exited: Promise.resolve({ failed: false, cancelled: false }),
    consumedBytes: () => consumed?.(),
    kill: () => stream.destroy(),
  };
}

function spawnCodec(command: string, args: string[], signal: AbortSignal | undefined): CodecStage {
  const child = execa(command, args, {
    buffer: false,
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    reject: false,
    ...(signal ? { cancelSignal: signal } : {}),
  });
  const stderr = createTailBuffer(STDERR_TAIL_BYTES);
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  const description = `${command} ${args.join(' ')}`;
  const exited: Promise<CodecExit> = child.then(
    (result) => {
      if (!result.failed) return { failed: false, cancelled: false };
      // Only our own cancellation excuses a failure; a signal from elsewhere (OOM killer) is a failure.
      const cancelled = Boolean(result.isCanceled);
      const missing = (result as { code?: string }).code === 'ENOENT';
      const detail = missing
        ? `${command} is not installed`
        : `${description} ${result.exitCode === undefined ? `ended by ${result.signal ?? 'an error'}` : `exited with code ${result.exitCode}`}${stderr.text().trim() ? `: ${stderr.text().trim()}` : ''}`;
      return { failed: !cancelled, cancelled, message: detail };
    },
    (error: unknown) => ({ failed: true, cancelled: false, message: String(error) }),
  );
  return {
    description,
    input: child.stdin,
    output: child.stdout,
    exited,
    consumedBytes: () => undefined,
    kill: () => {
      child.kill();
    },
  };
}

type PipelineStreams = readonly (NodeJS.ReadableStream | NodeJS.WritableStream | NodeJS.ReadWriteStream)[];

/**
 * Streams `source` through `stage` into `sink`. With a child process the two halves are separate
 * pipelines; both must finish.
 */
export async function pipeThroughCodec(
  source: PipelineStreams,
  stage: CodecStage,
  sink: PipelineStreams,
  signal?: AbortSignal,
): Promise<void> {
  const options = signal ? { signal } : {};
  if ((stage.input as unknown) === (stage.output as unknown)) {
    await pipeline([...source, stage.input, ...sink], options);
    return;
  }
  await Promise.all([
    pipeline([...source, stage.input], options),
    pipeline([stage.output, ...sink], options),
  ]);
}
