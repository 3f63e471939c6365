import { describe, expect, it } from 'vitest';
import { addRow, createRowDigest, formatRowDigest, mergeRowDigest } from './row-digest.js';

// Digests stored in manifests must stay comparable: these values were computed by the first
// implementation (one byte at a time), so any change to the algorithm fails here.
const LINES = [
  '',
  'a',
  'abcdefg',
  'abcdefgh',
  'abcdefghi',
  '1\tAlice\t2024-01-01 00:00:00+00\t\\N',
  'Tâble\t€\t😀 emoji',
  'x'.repeat(1000),
];
const DIGESTS = [
  '18ca5927177126e4',
  '1ef2abb807df3275',
  '0873c9a78a1edd4f',
  '549177c1803ecaf3',
  '7466331b8c2fa4c8',
  '49f92b6c9d0b74ae',
  '9ded5616dec9d41e',
  'aa31fa4504668d95',
];

/** The lines in one buffer that starts at an odd offset of its memory, like a pooled chunk's. */
function linesBuffer(): { buf: Buffer; spans: [number, number][] } {
  const whole = Buffer.from(`pad${LINES.join('\n')}\n`);
  const buf = whole.subarray(1);
  const spans: [number, number][] = [];
  let at = 2;
  for (const line of LINES) {
    const length = Buffer.byteLength(line);
    spans.push([at, at + length]);
    at += length + 1;
  }
  return { buf, spans };
}

describe('row digest', () => {
  it('gives each line the digest it always had, wherever the line sits in its buffer', () => {
    const { buf, spans } = linesBuffer();
    const digests = spans.map(([start, end]) => {
      const digest = createRowDigest();
      addRow(digest, buf, start, end);
      return formatRowDigest(digest);
    });
    expect(digests).toEqual(DIGESTS);
    const alone = LINES.map((line) => {
      const digest = createRowDigest();
      const own = Buffer.from(line);
      addRow(digest, own, 0, own.length);
      return formatRowDigest(digest);
    });
    expect(alone).toEqual(DIGESTS);
  });

  it('does not depend on row order, and a table read in pieces adds up to the whole', () => {
    const { buf, spans } = linesBuffer();
    const forward = createRowDigest();
    for (const [start, end] of spans) addRow(forward, buf, start, end);
    const backward = createRowDigest();
    for (const [start, end] of [...spans].reverse()) addRow(backward, buf, start, end);
    const first = createRowDigest();
    const second = createRowDigest();
    spans.forEach(([start, end], index) => {
      addRow(index < 3 ? first : second, buf, start, end);
    });
    mergeRowDigest(first, second);
    expect(formatRowDigest(forward)).toBe('9b40f52936197cc4');
    expect(formatRowDigest(backward)).toBe('9b40f52936197cc4');
    expect(formatRowDigest(first)).toBe('9b40f52936197cc4');
    expect(first.rows).toBe(LINES.length);
  });

  it('changes when one byte of a line changes', () => {
    const line = Buffer.from('1\tAlice\t2024-01-01');
    const before = createRowDigest();
    addRow(before, line, 0, line.length);
    line[3] = 0x62;
    const after = createRowDigest();
    addRow(after, line, 0, line.length);
    expect(formatRowDigest(after)).not.toBe(formatRowDigest(before));
  });
});
