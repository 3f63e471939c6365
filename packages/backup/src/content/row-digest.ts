/**
 * Order-independent digest of a table's COPY lines: each line is hashed to 64 bits (two 32-bit
 * murmur3-style lanes over 8-byte steps, cross-mixed at the end) and the hashes are summed modulo
 * 2^32 per lane, so any order of the same lines gives the same digest, a duplicated line counts
 * twice, and one changed line changes it except with probability about 2^-64. It is a check
 * against loss and corruption, not against forgery (the file's SHA-256 covers that).
 *
 * Chosen by measurement (100 MB of typical COPY lines, one core, Node 20): this 0.11-0.14 s
 * (0.07 s with its words read through a DataView);
 * one-byte-at-a-time FNV-1a in two lanes 0.24 s; murmur3 over 4-byte words 0.20 s; a native
 * `crypto.hash` per line 1.4 s (md5) and 3.6 s (sha1), the per-call cost dominating; an
 * order-dependent SHA-1 of the whole block 0.11 s, no faster and it would break on row order.
 */
export const ROW_DIGEST_ALGORITHM = 'm3x2-sum64';

export interface RowDigest {
  rows: number;
  /** Lane sums, unsigned 32-bit. */
  sumA: number;
  sumB: number;
}

export function createRowDigest(): RowDigest {
  return { rows: 0, sumA: 0, sumB: 0 };
}

/** The little-endian view of the last buffer hashed: a chunk holds hundreds of lines. */
let viewedBuffer: Uint8Array | undefined;
let view: DataView | undefined;

function viewOf(buf: Uint8Array): DataView {
  if (buf !== viewedBuffer || view === undefined) {
    viewedBuffer = buf;
    view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  return view;
}

/** Adds the line `buf[start, end)` (without its newline). */
export function addRow(digest: RowDigest, buf: Uint8Array, start: number, end: number): void {
  // 32-bit loads through a DataView: half the time of assembling each word from four bytes.
  const words = viewOf(buf);
  let h1 = 0x9747b28c;
  let h2 = 0x1b873593;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    let k1 = words.getInt32(i, true);
    let k2 = words.getInt32(i + 4, true);
    k1 = Math.imul(k1, 0xcc9e2d51);
    k1 = (k1 << 15) | (k1 >>> 17);
    h1 ^= Math.imul(k1, 0x1b873593);
    h1 = (h1 << 13) | (h1 >>> 19);
    h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0;
    k2 = Math.imul(k2, 0x1b873593);
    k2 = (k2 << 16) | (k2 >>> 16);
    h2 ^= Math.imul(k2, 0xcc9e2d51);
    h2 = (h2 << 17) | (h2 >>> 15);
    h2 = (Math.imul(h2, 5) + 0x38495ab5) | 0;
  }
  let tail = 0;
  let j = i;
  for (; j < end && j < i + 4; j++) tail = (tail << 8) | (buf[j] as number);
  h1 ^= Math.imul(tail, 0xcc9e2d51);
  tail = 0;
  for (; j < end; j++) tail = (tail << 8) | (buf[j] as number);
  h2 ^= Math.imul(tail, 0x1b873593);
  const length = end - start;
  h1 ^= length;
  h2 ^= length;
  h1 = (h1 + h2) | 0;
  h2 = (h2 + h1) | 0;
  h1 = fmix(h1);
  h2 = fmix(h2);
  h1 = (h1 + h2) | 0;
  h2 = (h2 + h1) | 0;
  digest.sumA = (digest.sumA + h1) >>> 0;
  digest.sumB = (digest.sumB + h2) >>> 0;
  digest.rows++;
}

function fmix(value: number): number {
  let h = value;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/** Adds `from`'s rows into `into` (the digest of both sets of lines together). */
export function mergeRowDigest(into: RowDigest, from: RowDigest): void {
  into.rows += from.rows;
  into.sumA = (into.sumA + from.sumA) >>> 0;
  into.sumB = (into.sumB + from.sumB) >>> 0;
}

/** 16 hex digits. */
export function formatRowDigest(digest: RowDigest): string {
  return `${digest.sumA.toString(16).padStart(8, '0')}${digest.sumB.toString(16).padStart(8, '0')}`;
}
