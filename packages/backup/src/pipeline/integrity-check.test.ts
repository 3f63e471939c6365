import { execFileSync } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import {
  type Compression,
  type CompressorOptions,
  createCompressor,
  createKnownGoodDecompressor,
  pipeThroughCodec,
  standaloneStream,
} from '../codecs/compression.js';
import { createEncryptStream } from '../codecs/encryption.js';
import { createIntegrityCheck } from './integrity-check.js';

const KEY = '3c'.repeat(32);

function programRuns(program: string): boolean {
  try {
    execFileSync(program, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function sqlText(bytes: number): Buffer {
  let out = '';
  for (let row = 0; out.length < bytes; row++) out += `${row}\tcustomer ${row % 977}\t2025-01-01\n`;
  return Buffer.from(out.slice(0, bytes));
}

async function collect(source: Readable, through: NodeJS.ReadWriteStream[] = []): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline([
    source,
    ...through,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        parts.push(chunk);
        callback();
      },
    }),
  ]);
  return Buffer.concat(parts);
}

/** `input` through a compressor as the dump runs one (a child process or in-process zlib). */
async function compressed(compression: Compression, options: CompressorOptions, input: Buffer) {
  const stage = await createCompressor(compression, options);
  const parts: Buffer[] = [];
  await pipeThroughCodec([Readable.from([input])], stage, [
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        parts.push(chunk);
        callback();
      },
    }),
  ]);
  return Buffer.concat(parts);
}

/** What Warden's integrity check makes of a stream: its SQL, or the error. */
async function checked(
  stream: Buffer,
  compression: Compression,
  encryptionKey?: string,
  knownGoodBytes = false,
): Promise<Buffer> {
  const sql: Buffer[] = [];
  const check = createIntegrityCheck({
    compression,
    onSql: (chunk) => sql.push(Buffer.from(chunk)),
    ...(encryptionKey ? { encryptionKey } : {}),
    knownGoodBytes,
  });
  await Promise.all([pipeline(Readable.from([stream]), check.input), check.done]);
  return Buffer.concat(sql);
}

/** The compressor engines the dump may run; a section compressed on its own goes ahead of each. */
const ENGINES: { name: string; compression: Compression; options: CompressorOptions; needs?: string }[] = [
  { name: 'in-process zlib', compression: 'gzip', options: { gzipEngine: 'zlib', gzipLevel: 3 } },
  { name: 'igzip', compression: 'gzip', options: { gzipEngine: 'igzip', gzipLevel: 3 }, needs: 'igzip' },
  { name: 'pigz', compression: 'gzip', options: { gzipEngine: 'pigz', gzipLevel: 6 }, needs: 'pigz' },
  { name: 'zstd', compression: 'zstd', options: {}, needs: 'zstd' },
];

/** Command-line decompressors an operator may use on the file. */
const DECOMPRESSORS: Record<Compression, string[][]> = {
  gzip: [
    ['gzip', '-dc'],
    ['pigz', '-dc'],
    ['igzip', '-dc'],
  ],
  zstd: [['zstd', '-dcq']],
};

describe('a section compressed on its own ahead of the compressor output', () => {
  const section = Buffer.from('--\n-- Warden: a section of its own\n--\n\nSELECT 1;\n\n');
  const dump = sqlText(3 * 1024 * 1024);
  const both = Buffer.concat([section, dump]);

  for (const engine of ENGINES) {
    it.skipIf(engine.needs !== undefined && !programRuns(engine.needs))(
      `${engine.name}: the integrity check reads both whole and still finds trailing data`,
      async () => {
        const head = standaloneStream(engine.compression, section, engine.options);
        const stream = Buffer.concat([head, await compressed(engine.compression, engine.options, dump)]);
        expect((await checked(stream, engine.compression)).equals(both)).toBe(true);
        for (const [program, ...args] of DECOMPRESSORS[engine.compression]) {
          if (!programRuns(program as string)) continue;
          const out = execFileSync(program as string, args, { input: stream, maxBuffer: 64 * 1024 * 1024 });
          expect(out.equals(both), `${program} ${args.join(' ')}`).toBe(true);
        }
        // Zero padding, which zlib skips silently: the bytes it consumed must cover both parts.
        await expect(checked(Buffer.concat([stream, Buffer.alloc(64)]), engine.compression)).rejects.toThrow(
          engine.compression === 'gzip'
            ? 'integrity check failed: 64 bytes of trailing data after the end of the gzip stream'
            : 'integrity check failed: the zstd stream does not decompress',
        );

        const encrypted = await collect(Readable.from([head, stream.subarray(head.length)]), [
          createEncryptStream(KEY),
        ]);
        expect((await checked(encrypted, engine.compression, KEY)).equals(both)).toBe(true);
      },
    );
  }
});

describe('standaloneStream', () => {
  it.skipIf(!programRuns('zstd'))('writes a zstd frame of several raw blocks that zstd reads', async () => {
    const section = sqlText(300 * 1024 + 7);
    const frame = standaloneStream('zstd', section);
    expect(frame.length).toBe(9 + 3 * 3 + section.length);
    expect(execFileSync('zstd', ['-dcq'], { input: frame }).equals(section)).toBe(true);
    expect((await checked(frame, 'zstd')).equals(section)).toBe(true);
  });
});

describe('bytes whose SHA-256 is known good', () => {
  it.skipIf(!programRuns('igzip'))(
    'are decompressed by igzip: the whole stream of several members, a damaged one still fails',
    async () => {
      expect((await createKnownGoodDecompressor('gzip')).description).toBe('igzip -d -c');
      expect((await createKnownGoodDecompressor('zstd')).description).toMatch(/^zstd /);
      const section = Buffer.from('--\n-- a section of its own\n--\n');
      const dump = sqlText(3 * 1024 * 1024);
      const options: CompressorOptions = { gzipEngine: 'zlib', gzipLevel: 3 };
      const stream = Buffer.concat([
        standaloneStream('gzip', section, options),
        await compressed('gzip', options, dump),
      ]);
      expect((await checked(stream, 'gzip', undefined, true)).equals(Buffer.concat([section, dump]))).toBe(
        true,
      );
      const flipped = Buffer.from(stream);
      const at = Math.floor(flipped.length / 2);
      flipped[at] = (flipped[at] ?? 0) ^ 0x01;
      await expect(checked(flipped, 'gzip', undefined, true)).rejects.toThrow(
        /integrity check failed: the gzip stream does not decompress: igzip -d -c exited with code 1/,
      );
      await expect(checked(stream.subarray(0, stream.length - 100), 'gzip', undefined, true)).rejects.toThrow(
        /does not decompress/,
      );
    },
  );
});
