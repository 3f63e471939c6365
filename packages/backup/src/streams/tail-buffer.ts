/** How much of a subprocess's stderr an error message may quote. */
export const STDERR_TAIL_BYTES = 2048;

/** Keeps only the last `limit` bytes written to it: bounded stderr capture, the end of a dump. */
export interface TailBuffer {
  push(chunk: Buffer): void;
  bytes(): Buffer;
  text(): string;
}

export function createTailBuffer(limit: number): TailBuffer {
  let tail = Buffer.alloc(0);
  return {
    push(chunk) {
      if (chunk.length >= limit) {
        tail = Buffer.from(chunk.subarray(chunk.length - limit));
      } else if (tail.length + chunk.length > limit) {
        tail = Buffer.concat([tail.subarray(tail.length + chunk.length - limit), chunk]);
      } else {
        tail = Buffer.concat([tail, chunk]);
      }
    },
    bytes: () => tail,
    text: () => tail.toString('utf8').replace(/^\uFFFD+/, ''),
  };
}

export const DUMP_COMPLETE_MARKER = '-- PostgreSQL database dump complete';

/**
 * True when the end of a plain-format dump carries pg_dump's completion trailer. pg_dump 15.14+
 * follows it with `\unrestrict <key>` (docs/architecture.md#library-traps), so only comment lines, blank lines and that
 * command may come after it.
 */
export function hasCompletionTrailer(tail: string): boolean {
  const at = tail.lastIndexOf(DUMP_COMPLETE_MARKER);
  if (at === -1) return false;
  const rest = tail.slice(at + DUMP_COMPLETE_MARKER.length);
  return rest.split('\n').every((line) => {
    const trimmed = line.trim();
    return trimmed === '' || trimmed === '--' || /^\\unrestrict\s+\S+$/.test(trimmed);
  });
}
