import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { createChunkCoalescer } from './coalesce.js';

async function chunksThrough(input: Buffer[], minBytes: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(input),
    createChunkCoalescer(minBytes),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        out.push(chunk);
        callback();
      },
    }),
  );
  return out;
}

describe('createChunkCoalescer', () => {
  it('joins small chunks into chunks of at least the minimum, keeping every byte in order', async () => {
    const input = Array.from({ length: 10 }, (_, index) => Buffer.alloc(300, index));
    const out = await chunksThrough(input, 1000);
    expect(out.map((chunk) => chunk.length)).toEqual([1200, 1200, 600]);
    expect(Buffer.concat(out).equals(Buffer.concat(input))).toBe(true);
  });

  it('passes a chunk already big enough through without copying it', async () => {
    const big = Buffer.alloc(5000, 7);
    const [out] = await chunksThrough([big], 1000);
    expect(out).toBe(big);
  });

  it('passes on what it holds after maxHoldMs when no more arrives', async () => {
    const coalescer = createChunkCoalescer(1000, 20);
    const out: Buffer[] = [];
    coalescer.on('data', (chunk: Buffer) => out.push(chunk));
    coalescer.write(Buffer.alloc(300, 1));
    coalescer.write(Buffer.alloc(200, 2));
    expect(out).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(out.map((chunk) => chunk.length)).toEqual([500]);
    coalescer.write(Buffer.alloc(2000, 3));
    coalescer.end();
    await new Promise((resolve) => coalescer.on('end', resolve));
    expect(out.map((chunk) => chunk.length)).toEqual([500, 2000]);
  });

  it('emits nothing for an empty stream', async () => {
    expect(await chunksThrough([], 1000)).toEqual([]);
  });
});
