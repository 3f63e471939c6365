import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync } from 'node:zlib';
import { BackupError } from '@warden/errors';
import { describe, expect, it } from 'vitest';
import { createFanOut } from '../streams/fan-out.js';
import {
  assertGzipEngineLevel,
  createCompressor,
  createParallelGzip,
  IGZIP_MAX_LEVEL,
} from './compression.js';

function text(bytes: number): Buffer {
  const words = ['select', 'insert', 'orders', 'customer', 'id', 'note', '2025-01-01', 'paid', '\n'];
  let out = '';
  let state = 7;
  while (out.length < bytes) {
    state = (state * 1103515245 + 12345) % 2147483648;
    out += `${words[state % words.length]}${state % 1000} `;
  }
  return Buffer.from(out.slice(0, bytes));
}

async function collect(input: Buffer[], transform: NodeJS.ReadWriteStream): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(input),
    transform,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        out.push(chunk);
        callback();
      },
    }),
  );
  return Buffer.concat(out);
}

/** Gzip members start with 1f 8b 08; counts member headers at the offsets a walk would find. */
function countMembers(gz: Buffer): number {
  let count = 0;
  for (
    let at = gz.indexOf(Buffer.from([0x1f, 0x8b, 0x08]));
    at !== -1;
    at = gz.indexOf(Buffer.from([0x1f, 0x8b, 0x08]), at + 1)
  ) {
    count++;
  }
  return count;
}

describe('createParallelGzip', () => {
  it('produces a multi-member gzip that decompresses to the input, in order', async () => {
    const input = text(700_000);
    const pieces: Buffer[] = [];
    for (let at = 0; at < input.length; at += 9_999) pieces.push(input.subarray(at, at + 9_999));
    const gz = await collect(pieces, createParallelGzip(3, 3, 64 * 1024));
    expect(gunzipSync(gz).equals(input)).toBe(true);
    expect(countMembers(gz)).toBeGreaterThanOrEqual(Math.ceil(input.length / (64 * 1024)));
    expect(gz.length).toBeLessThan(input.length / 2);
  });

  it('writes a valid empty gzip for empty input', async () => {
    const gz = await collect([], createParallelGzip(6, 2));
    expect(gunzipSync(gz).length).toBe(0);
  });
});

describe('gzip engines', () => {
  it('refuses a level igzip does not have, as a permanent configuration error', () => {
    expect(() => assertGzipEngineLevel('igzip', IGZIP_MAX_LEVEL)).not.toThrow();
    expect(() => assertGzipEngineLevel('auto', 9)).not.toThrow();
    expect(() => assertGzipEngineLevel('pigz', 9)).not.toThrow();
    let error: unknown;
    try {
      assertGzipEngineLevel('igzip', 6);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(BackupError);
    expect(error).toMatchObject({ code: 'COMPRESSION_FAILED', permanent: true });
    expect((error as Error).message).toMatch(/igzip compresses at levels 1 to 3, got gzip level 6/);
  });

  it('runs Node zlib in-process when pinned, whatever is installed', async () => {
    const stage = await createCompressor('gzip', { gzipLevel: 3, gzipEngine: 'zlib' });
    expect(stage.description).toMatch(/^zlib gzip level 3/);
    const input = text(300_000);
    const out = await collect([input], stage.input as unknown as NodeJS.ReadWriteStream);
    expect(gunzipSync(out).equals(input)).toBe(true);
  });
});

describe('createFanOut', () => {
  function sink(delayMs = 0) {
    const parts: Buffer[] = [];
    const stream = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _encoding, callback) {
        parts.push(chunk);
        setTimeout(callback, delayMs);
      },
    });
    return { stream, bytes: () => Buffer.concat(parts) };
  }

  it('gives every target every byte, at the pace of the slowest, and leaves end: false targets open', async () => {
    const fast = sink();
    const slow = sink(2);
    const held = sink();
    const input = text(50_000);
    const pieces: Buffer[] = [];
    for (let at = 0; at < input.length; at += 4000) pieces.push(input.subarray(at, at + 4000));
    await pipeline(
      Readable.from(pieces),
      createFanOut([{ stream: fast.stream }, { stream: slow.stream }, { stream: held.stream, end: false }]),
    );
    expect(fast.bytes().equals(input)).toBe(true);
    expect(slow.bytes().equals(input)).toBe(true);
    expect(held.bytes().equals(input)).toBe(true);
    expect(fast.stream.writableEnded).toBe(true);
    expect(held.stream.writableEnded).toBe(false);
    expect(held.stream.destroyed).toBe(false);
  });

  it('detaches a failing optional target and fails on a failing required one', async () => {
    const kept = sink();
    const optional = sink();
    let detached: unknown;
    const input = text(20_000);
    const pieces = [input.subarray(0, 10_000), input.subarray(10_000)];
    setImmediate(() => optional.stream.destroy(new Error('upload dropped')));
    await pipeline(
      Readable.from(pieces),
      createFanOut([
        { stream: kept.stream },
        { stream: optional.stream, optional: true, onDetach: (error) => (detached = error) },
      ]),
    );
    expect(kept.bytes().equals(input)).toBe(true);
    expect(String(detached)).toContain('upload dropped');

    const required = sink();
    setImmediate(() => required.stream.destroy(new Error('disk gone')));
    const failure = await pipeline(Readable.from(pieces), createFanOut([{ stream: required.stream }])).catch(
      (error: unknown) => error,
    );
    expect(String(failure)).toContain('disk gone');
  });
});
