import { availableParallelism } from 'node:os';
import { type Readable, Transform, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGunzip, gzip, gzipSync } from 'node:zlib';
import { BackupError } from '@warden/errors';
import { execa } from 'execa';
import { startChild } from '../streams/child-process.js';

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
  /**
   * `input` is a child process's stdin: another child can take it as its stdout and write to it
   * directly, without a copy through Node (then close `input` here).
   */
  readonly directInput?: boolean;
}

export interface CodecExit {
  /** The stage failed on its own (not because it was cancelled). */
  failed: boolean;
  cancelled: boolean;
  /** Ended by SIGPIPE: whoever read its output stopped first (the failure is elsewhere). */
  brokenPipe?: boolean;
  message?: string;
}

/**
 * Which program writes gzip. `auto` picks by measurement (2 cores, 208 MB of SQL, sizes against
 * `gzip -6`): igzip (Intel ISA-L) for levels 1–3 — level 3 is 1.085× the size for 0.77 CPU-seconds,
 * where pigz -3 needs 2.7 for 1.079× —, else pigz on every core, else Node's zlib on every core.
 * All three write plain gzip that any gunzip reads.
 */
export type GzipEngine = 'auto' | 'igzip' | 'pigz' | 'zlib';

/** igzip's highest level; above it only zlib-based compressors go. */
export const IGZIP_MAX_LEVEL = 3;

export interface CompressorOptions {
  /** @defaultValue 6 */
  gzipLevel?: number;
  /** @defaultValue 3 */
  zstdLevel?: number;
  /** Kills a child compressor when aborted. */
  signal?: AbortSignal;
  /** @defaultValue 'auto' */
  gzipEngine?: GzipEngine;
  /** Blocks compressed at once by the in-process gzip. @defaultValue one more than the cores, at least 3 */
  parallelism?: number;
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

/** Throws a permanent `COMPRESSION_FAILED` when the chosen engine has no such level (igzip: 1–3). */
export function assertGzipEngineLevel(engine: GzipEngine, level: number | undefined): void {
  if (engine === 'igzip' && level !== undefined && level > IGZIP_MAX_LEVEL) {
    throw new BackupError(
      'COMPRESSION_FAILED',
      `igzip compresses at levels 1 to ${IGZIP_MAX_LEVEL}, got gzip level ${level}; use a lower level or the pigz or zlib engine`,
      { permanent: true },
    );
  }
}

const programDetections = new Map<string, Promise<boolean>>();

/** Whether `program --version` runs; checked once per process and program. */
function detectProgram(program: 'pigz' | 'igzip'): Promise<boolean> {
  let detection = programDetections.get(program);
  if (detection === undefined) {
    detection = execa(program, ['--version'], { reject: false, timeout: 5000, stdin: 'ignore' }).then(
      (result) => !result.failed,
      () => false,
    );
    programDetections.set(program, detection);
  }
  return detection;
}

/** Whether `pigz` runs; checked once per process. */
export function detectPigz(): Promise<boolean> {
  return detectProgram('pigz');
}

/** Whether `igzip` (Debian package `isal`) runs; checked once per process. */
export function detectIgzip(): Promise<boolean> {
  return detectProgram('igzip');
}

/** The engine `auto` resolves to for a level on this machine. */
export async function resolveGzipEngine(
  engine: GzipEngine,
  level: number,
): Promise<Exclude<GzipEngine, 'auto'>> {
  if (engine !== 'auto') return engine;
  if (level <= IGZIP_MAX_LEVEL && (await detectIgzip())) return 'igzip';
  if (await detectPigz()) return 'pigz';
  return 'zlib';
}

/**
 * What to tell the operator, once at start, when gzip backups would fall back to Node's zlib because
 * neither igzip nor pigz runs here; `undefined` when one does, or when the engine or zstd was chosen
 * on purpose. The figures: a 190 MB dump on 2 cores took 0.45× the time of the shell pipeline
 * `pg_dump | gzip -6` with zlib, 0.30× with igzip.
 */
export async function gzipFallbackWarning(options: {
  compression: Compression;
  gzipEngine: GzipEngine;
  gzipLevel: number;
}): Promise<string | undefined> {
  if (options.compression !== 'gzip' || options.gzipEngine !== 'auto') return undefined;
  if ((await resolveGzipEngine('auto', options.gzipLevel)) !== 'zlib') return undefined;
  const found = (await detectIgzip())
    ? `pigz not found, and igzip compresses only levels 1-${IGZIP_MAX_LEVEL} (BACKUP_GZIP_LEVEL is ${options.gzipLevel})`
    : 'neither igzip nor pigz found';
  return (
    `${found}: gzip backups use Node's zlib and take about 1.5x as long ` +
    '(a 190 MB dump: 0.45x instead of 0.30x the time of `pg_dump | gzip -6`); ' +
    'install the package isal (igzip) or pigz'
  );
}

export function compressionContentType(compression: Compression): string {
  return compression === 'zstd' ? 'application/zstd' : 'application/gzip';
}

/**
 * A small buffer as a complete stream of its own: one gzip member or one zstd frame. Another stream
 * of the same compression may follow it: concatenated gzip members are one gzip file (RFC 1952
 * §2.2), concatenated zstd frames one zstd stream (RFC 8878 §3.1), and every decompressor reads
 * them whole: this is how the dump's own section goes ahead of pg_dump's output. Synchronous: a
 * few KiB take well under a millisecond, less than a round trip through the thread pool.
 */
export function standaloneStream(
  compression: Compression,
  input: Buffer,
  options: Pick<CompressorOptions, 'gzipLevel'> = {},
): Buffer {
  if (compression === 'gzip') return gzipSync(input, { level: options.gzipLevel ?? 6 });
  return zstdRawFrame(input);
}

/** zstd's frame magic number, written little-endian (RFC 8878 §3.1.1). */
const ZSTD_MAGIC = 0xfd2fb528;
/** Block_Maximum_Size of a zstd frame. */
const ZSTD_MAX_BLOCK_BYTES = 128 * 1024;

/**
 * `input` as one zstd frame of raw (stored) blocks. A few KiB of SQL gain nothing from compression,
 * and a zstd process would take 20-50 ms to start on a busy 2-core machine while pg_dump waits.
 */
function zstdRawFrame(input: Buffer): Buffer {
  if (input.length > 0xffffffff)
    throw new RangeError('a raw zstd frame holds at most 4 GiB here (its content size field)');
  const header = Buffer.alloc(9);
  header.writeUInt32LE(ZSTD_MAGIC, 0);
  // Frame_Header_Descriptor: content size in 4 bytes, single segment (so no window descriptor),
  // no checksum, no dictionary.
  header[4] = 0b1010_0000;
  header.writeUInt32LE(input.length, 5);
  const parts: Buffer[] = [header];
  let at = 0;
  do {
    const size = Math.min(ZSTD_MAX_BLOCK_BYTES, input.length - at);
    const last = at + size === input.length ? 1 : 0;
    // Block_Header: Last_Block, Block_Type 0 (Raw_Block), Block_Size.
    const blockHeader = Buffer.alloc(3);
    blockHeader.writeUIntLE(size * 8 + last, 0, 3);
    parts.push(blockHeader, input.subarray(at, at + size));
    at += size;
  } while (at < input.length);
  return Buffer.concat(parts);
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
  assertGzipEngineLevel(options.gzipEngine ?? 'auto', level);
  const engine = await resolveGzipEngine(options.gzipEngine ?? 'auto', level);
  if (engine === 'igzip') {
    // Single-threaded on purpose: at about 240 MB/s it outruns pg_dump, and leaves a core to the rest.
    return spawnCodec('igzip', [`-${level}`, '-c'], options.signal);
  }
  if (engine === 'pigz') {
    return spawnCodec('pigz', ['-p', String(availableParallelism()), `-${level}`, '-c'], options.signal);
  }
  // One block more than cores: measured 25 % faster on 2 cores, as a block finishing never idles a core.
  const parallelism = Math.max(2, options.parallelism ?? availableParallelism() + 1);
  return inProcessCodec(
    `zlib gzip level ${level} (${parallelism} blocks in parallel)`,
    createParallelGzip(level, parallelism),
  );
}

const gzipBlock = promisify(gzip);
/** Input per gzip member of the in-process compressor: big enough that the members' lost context costs <1 %. */
const PARALLEL_GZIP_BLOCK_BYTES = 1024 * 1024;

/**
 * All cores without pigz: the input is cut into 1 MiB blocks, each compressed as its own gzip member
 * on libuv's thread pool (`zlib.gzip` runs off the main thread), and the members are emitted in
 * order. A concatenation of gzip members is one valid gzip file (RFC 1952 §2.2): `gunzip`, `gzip -t`
 * and Node's gunzip read it whole. `parallelism` blocks compress while the next one fills, so memory
 * stays at a few MiB whatever the dump size.
 */
export function createParallelGzip(
  level: number,
  parallelism: number,
  blockBytes = PARALLEL_GZIP_BLOCK_BYTES,
): Transform {
  const inFlight: Promise<Buffer>[] = [];
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let members = 0;

  const start = (block: Buffer) => {
    const job = gzipBlock(block, { level });
    // Awaited in order below; this only keeps an early failure from being reported as unhandled.
    job.catch(() => undefined);
    inFlight.push(job);
    members++;
  };
  const takeBlocks = (all: boolean) => {
    if (pendingBytes < blockBytes && !(all && pendingBytes > 0)) return;
    let joined = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingBytes);
    while (joined.length >= blockBytes) {
      start(joined.subarray(0, blockBytes));
      joined = joined.subarray(blockBytes);
    }
    if (all && joined.length > 0) {
      start(joined);
      joined = Buffer.alloc(0);
    }
    pending = joined.length > 0 ? [joined] : [];
    pendingBytes = joined.length;
  };
  async function drain(stream: Transform, keep: number): Promise<void> {
    while (inFlight.length > keep) stream.push(await (inFlight.shift() as Promise<Buffer>));
  }

  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      pending.push(chunk);
      pendingBytes += chunk.length;
      takeBlocks(false);
      // Backpressure: `parallelism` blocks compress while the next one fills; never more than one extra.
      drain(this, parallelism).then(() => callback(), callback);
    },
    flush(callback: TransformCallback) {
      takeBlocks(true);
      // Empty input still makes a valid (empty) gzip file.
      if (members === 0) start(Buffer.alloc(0));
      drain(this, 0).then(() => callback(), callback);
    },
  });
}

export function createDecompressor(
  compression: Compression,
  signal?: AbortSignal,
  zstdPath = 'zstd',
): CodecStage {
  if (compression === 'zstd') return spawnCodec(zstdPath, ['-d', '-q', '-c'], signal);
  // The default finish flush makes a truncated stream an error ("unexpected end of file").
  // 1 MiB output chunks: measured 0.41 instead of 0.67 CPU-seconds (64 KiB) for 208 MB of SQL.
  const gunzip = createGunzip({ chunkSize: 1024 * 1024 });
  return inProcessCodec('zlib gunzip', gunzip, () => gunzip.bytesWritten);
}

/**
 * A decompressor for a stream whose bytes are already known good (their SHA-256 matched the
 * manifest's): igzip (ISA-L) where it is installed, which decompresses gzip in about a quarter of
 * zlib's CPU time (300 MB of SQL: 0.33 against 1.2-1.7 CPU-seconds). It skips whatever follows the
 * last gzip member without a word, so it cannot tell trailing garbage from the end the way
 * {@link createDecompressor} does (that check belongs to the backup, which read the same bytes).
 */
export async function createKnownGoodDecompressor(
  compression: Compression,
  signal?: AbortSignal,
  zstdPath = 'zstd',
): Promise<CodecStage> {
  if (compression === 'gzip' && (await detectIgzip())) return spawnCodec('igzip', ['-d', '-c'], signal);
  return createDecompressor(compression, signal, zstdPath);
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
  const child = startChild(command, args, { stdin: 'pipe', stdout: 'pipe', ...(signal ? { signal } : {}) });
  const description = `${command} ${args.join(' ')}`;
  const exited: Promise<CodecExit> = child.exited.then((exit) => {
    if (!exit.failed) return { failed: false, cancelled: exit.cancelled };
    // Only our own cancellation excuses a failure; a signal from elsewhere (OOM killer) is a failure.
    const detail =
      exit.errorCode === 'ENOENT'
        ? `${command} is not installed`
        : `${description} ${exit.exitCode === undefined ? `ended by ${exit.signal ?? 'an error'}` : `exited with code ${exit.exitCode}`}${exit.stderr ? `: ${exit.stderr}` : ''}`;
    return { failed: true, cancelled: false, brokenPipe: exit.signal === 'SIGPIPE', message: detail };
  });
  return {
    description,
    input: child.stdin as Writable,
    output: child.stdout as Readable,
    exited,
    consumedBytes: () => undefined,
    kill: () => {
      child.process.kill();
    },
    directInput: true,
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
