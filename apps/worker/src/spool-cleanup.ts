import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { SPOOL_RECORD_SUFFIX } from '@warden/backup';
import type { Logger } from '@warden/logging';

export interface RemoveStalePartialsOptions {
  spoolDir: string;
  /** The target whose lock the caller holds. */
  target: string;
  logger?: Logger;
}

/** A spool record being written (see `writeSpoolRecord`). */
const RECORD_TEMP = new RegExp(`${SPOOL_RECORD_SUFFIX.replaceAll('.', '\\.')}\\.tmp-[0-9a-f]{16}$`);

/**
 * Deletes the `<target>.*.partial` files a killed worker (kill -9, OOM, power loss) left in the
 * spool directory, and spool records whose dump is gone. Only call it while holding the target's
 * lock: the lock guarantees no backup of the target is running anywhere, so every partial file of
 * that target is stale. Target names cannot contain ".", so the `<target>.` prefix never matches
 * another target's files.
 *
 * @returns the paths removed
 */
export async function removeStalePartials(options: RemoveStalePartialsOptions): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(options.spoolDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const prefix = `${options.target}.`;
  const present = new Set(names);
  const stale = names
    .filter(
      (name) =>
        name.startsWith(prefix) &&
        (name.endsWith('.partial') ||
          RECORD_TEMP.test(name) ||
          (name.endsWith(SPOOL_RECORD_SUFFIX) && !present.has(name.slice(0, -SPOOL_RECORD_SUFFIX.length)))),
    )
    .map((name) => path.join(options.spoolDir, name));
  for (const file of stale) {
    await rm(file, { force: true });
    options.logger?.warn({ file }, 'removed a partial dump left by an interrupted backup');
  }
  return stale;
}
