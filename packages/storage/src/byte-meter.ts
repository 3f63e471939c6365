import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';

/** Counts and hashes what flows through, so a store can check what it stored against what it sent. */
export interface ByteMeter {
  readonly stream: Transform;
  /** Bytes that have passed through so far. */
  bytes(): number;
  /** Hex SHA-256 of everything that passed through; call once the stream has ended. */
  sha256(): string;
}

export function createByteMeter(onProgress?: (bytes: number) => void): ByteMeter {
  const hash = createHash('sha256');
  let count = 0;
  let digest: string | undefined;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      count += chunk.length;
      onProgress?.(count);
      callback(null, chunk);
    },
  });
  return {
    stream,
    bytes: () => count,
    sha256() {
      digest ??= hash.digest('hex');
      return digest;
    },
  };
}
