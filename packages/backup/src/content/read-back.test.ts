import { describe, expect, it } from 'vitest';
import { type Piece, piecesOf } from './read-back.js';

const table = (index: number, pages: number) => ({ index, pages });

/** The page ranges of one table, in order, with open ends as -1 / Infinity. */
function ranges(pieces: Piece[], index: number): [number, number][] {
  return pieces
    .filter((piece) => piece.table === index)
    .map((piece): [number, number] => [piece.from ?? -1, piece.to ?? Number.POSITIVE_INFINITY])
    .sort((a, b) => a[0] - b[0]);
}

describe('read-back pieces', () => {
  it('a big table is read in page ranges that join up and are open at both ends', () => {
    const pieces = piecesOf([table(0, 10_000), table(1, 10)], 3, true);
    const big = ranges(pieces, 0);
    expect(big.length).toBeGreaterThan(1);
    expect(big[0]?.[0]).toBe(-1);
    expect(big.at(-1)?.[1]).toBe(Number.POSITIVE_INFINITY);
    for (let at = 1; at < big.length; at++) expect(big[at]?.[0]).toBe(big[at - 1]?.[1]);
    expect(ranges(pieces, 1)).toEqual([[-1, Number.POSITIVE_INFINITY]]);
  });

  it('whole tables only without TID range scans, or when all tables are small (under 1 MiB)', () => {
    for (const pieces of [
      piecesOf([table(0, 10_000), table(1, 10)], 3, false),
      piecesOf([table(0, 120), table(1, 20)], 3, true),
    ]) {
      expect(pieces.map((piece) => [piece.from, piece.to])).toEqual([
        [undefined, undefined],
        [undefined, undefined],
      ]);
    }
  });
});
