import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Writes an executable `pg_dump` stand-in at `dir/name` that runs the shell line `beforeDump`
 * before each real dump (never before a `--version` probe), then the real pg_dump with the same
 * arguments. Tests point PG_DUMP_PATH at it to slow dumps down, count them or record what pg_dump
 * was given.
 */
export function writePgDumpWrapper(dir: string, name: string, beforeDump: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, `#!/bin/sh\nif [ "$1" != "--version" ]; then ${beforeDump}; fi\nexec pg_dump "$@"\n`);
  chmodSync(file, 0o700);
  return file;
}
