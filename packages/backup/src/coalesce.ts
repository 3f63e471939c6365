import { Transform, type TransformCallback } from 'node:stream';

/**
 * Joins small chunks into chunks of at least `minBytes` (the last one may be shorter). zlib pays a
 * fixed cost per write (a thread-pool round trip): decompressing a 69 MB backup as the 64 KiB chunks
 * a pipe delivers cost 0.3 CPU-seconds more on the main thread than as 1 MiB chunks.
 */
export function createChunkCoalescer(minBytes: number): Transform {
  let held: Buffer[] = [];
  let heldBytes = 0;
  const release = (): Buffer => {
    const joined = held.length === 1 ? (held[0] as Buffer) : Buffer.concat(held, heldBytes);
    held = [];
    heldBytes = 0;
    return joined;
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      held.push(chunk);
      heldBytes += chunk.length;
      if (heldBytes >= minBytes) callback(null, release());
      else callback();
    },
    flush(callback: TransformCallback) {
      if (heldBytes > 0) this.push(release());
      callback();
    },
  });
}
