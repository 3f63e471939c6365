import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import {
  JOB_RECORD_SUFFIX,
  listJobSpoolRecords,
  removeSpooledBackup,
  SPOOL_RECORD_SUFFIX,
} from '@warden/backup';
import type { Logger } from '@warden/logging';
import type { TargetLock } from './target-lock.js';

export interface RemoveStalePartialsOptions {
  spoolDir: string;
  /** The target whose lock the caller holds. */
  target: string;
  logger?: Logger;
}

/** A spool record or job record being written (see `writePrivateFile`). */
const RECORD_TEMP = new RegExp(
  `(?:${SPOOL_RECORD_SUFFIX.replaceAll('.', '\\.')}|${JOB_RECORD_SUFFIX.replaceAll('.', '\\.')})\\.tmp-[0-9a-f]{16}$`,
);

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
  const names = await spoolNames(options.spoolDir);
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

async function spoolNames(spoolDir: string): Promise<string[]> {
  try {
    return await readdir(spoolDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** `<target>.<backup file name>`: a spooled dump (see `spoolFileName`). */
const SPOOLED_DUMP = /^([^.]+)\.(.+_\d{8}_\d{6}\.sql\.(?:gz|zst)(?:\.enc)?)$/;

export interface SweepSpoolOptions {
  spoolDir: string;
  /** The BullMQ state of a backup job: `unknown` once it is removed. */
  jobState: (jobId: string) => Promise<string>;
  lockFor: (target: string) => TargetLock;
  logger?: Logger;
  /**
   * A spooled dump no job record names is removed only once it is this old: the CLI spools without
   * a job, and an upload retry scheduled before job records existed names its dump only in the
   * job's data. @defaultValue one hour
   */
  unrecordedGraceMs?: number;
}

/**
 * Removes spool files no job owns (docs/architecture.md#spool-sweep), at worker start-up and
 * periodically:
 * - a job record whose job completed or no longer exists, with the dump and spool record it names;
 *   a failed job keeps its dump (the failure message says where) until the job is removed;
 * - while holding the target's lock (no backup of the target runs anywhere): partial files, and
 *   spooled dumps no job record names once older than `unrecordedGraceMs`.
 *
 * @returns the paths removed
 */
export async function sweepSpool(options: SweepSpoolOptions): Promise<string[]> {
  const { spoolDir, logger } = options;
  const removed: string[] = [];
  const owned = new Set<string>();
  for (const { name, record } of await listJobSpoolRecords(spoolDir)) {
    if (!record) continue;
    const dump = `${record.target}.${record.filename}`;
    const state = await options.jobState(record.job_id);
    if (state !== 'completed' && state !== 'unknown') {
      owned.add(dump);
      continue;
    }
    await removeSpooledBackup(path.join(spoolDir, dump));
    await rm(path.join(spoolDir, name), { force: true });
    removed.push(path.join(spoolDir, name));
    logger?.info({ file: name, jobId: record.job_id, state }, 'removed the spool files of a finished job');
  }

  const graceMs = options.unrecordedGraceMs ?? 3_600_000;
  const byTarget = new Map<string, string[]>();
  for (const name of await spoolNames(spoolDir)) {
    const match = SPOOLED_DUMP.exec(name);
    const target = match?.[1] ?? (name.endsWith('.partial') ? name.split('.')[0] : undefined);
    if (target === undefined || owned.has(name)) continue;
    byTarget.set(target, [...(byTarget.get(target) ?? []), ...(match ? [name] : [])]);
  }
  for (const [target, dumps] of byTarget) {
    const lock = options.lockFor(target);
    if (!(await lock.acquire())) continue;
    try {
      removed.push(...(await removeStalePartials({ spoolDir, target, ...(logger ? { logger } : {}) })));
      for (const name of dumps) {
        const file = path.join(spoolDir, name);
        const info = await stat(file).catch(() => undefined);
        if (!info || Date.now() - info.mtimeMs < graceMs) continue;
        await removeSpooledBackup(file);
        removed.push(file);
        logger?.warn({ file }, 'removed a spooled dump no job owns');
      }
    } finally {
      await lock.release().catch(() => undefined);
    }
  }
  return removed;
}
