import {
  type BackupTargetSpec,
  loadSpooledBackup,
  readJobSpoolRecord,
  removeJobSpoolRecord,
  type SpooledBackup,
} from '@warden/backup';
import { type BackupManifest, readManifest } from '@warden/catalog';
import type { Logger } from '@warden/logging';
import type { BackupJobPayload } from '@warden/queue';
import type { BackupStorage } from '@warden/storage';

/** Where a re-run of a backup job picks up (docs/architecture.md#resuming-a-re-run-job). */
export type ResumePoint =
  /** An earlier run of this job already wrote the manifest: nothing to dump or upload. */
  | { stored: BackupManifest }
  /** An earlier run of this job spooled the dump and its integrity check passed: upload it. */
  | { spooled: SpooledBackup; file: string }
  /** Nothing to resume from (or the job's data names the upload retry): run as usual. */
  | undefined;

export interface ResumePointOptions {
  jobId: string;
  target: BackupTargetSpec;
  upload: BackupJobPayload['upload'];
  storage: BackupStorage;
  spoolDir: string;
  log: Logger;
}

/**
 * What an earlier run of the same job left: a run that ended without BullMQ hearing of it (a Redis
 * failover ate the completion, the worker died) is run again by the stalled-job recovery. The
 * backup's file name comes from the job's data (upload retry) or from the job's record in the
 * spool. A manifest in storage of that name, made by this job, means the backup is done; a
 * spooled dump that still matches its spool record is uploaded (also when storage cannot be
 * asked: the upload writes the same name again, never a second backup); anything else is dumped
 * afresh. A storage error with nothing spooled to upload propagates: guessing "not stored" and
 * dumping again would take a second backup.
 */
export async function findResumePoint(options: ResumePointOptions): Promise<ResumePoint> {
  const { jobId, target, log } = options;
  const record = await readJobSpoolRecord(options.spoolDir, target, jobId).catch((error: unknown) => {
    log.warn({ err: error }, 'could not read the job record in the spool directory');
    return undefined;
  });
  const file = options.upload?.file ?? record?.filename;
  if (file === undefined) return undefined;
  let manifest: BackupManifest | undefined;
  let unreachable: unknown;
  try {
    manifest = await readManifest(options.storage, target.name, file);
  } catch (error) {
    // A manifest that is not one of this target's is not this job's backup.
    if ((error as { code?: string }).code !== 'MANIFEST_INVALID') unreachable = error;
  }
  if (manifest?.job_id === jobId) {
    log.info({ filename: file }, 'an earlier run of this job already stored the backup; not dumping again');
    return { stored: manifest };
  }
  // The upload retry path loads (and checks) the spooled dump its data names; with storage away,
  // its upload attempt fails as an upload error, which the upload policy retries.
  if (options.upload || !record) return undefined;
  try {
    const spooled = await loadSpooledBackup({ spoolDir: options.spoolDir, target, filename: file });
    log.info(
      { filename: file },
      'resuming from the integrity-checked dump an earlier run of this job spooled',
    );
    return { spooled, file };
  } catch (error) {
    // Storage could not say whether this job's backup is stored: dumping again might take a second one.
    if (unreachable !== undefined) throw unreachable;
    log.warn(
      { err: error, filename: file },
      'the dump an earlier run of this job spooled cannot be used; dumping again',
    );
    await removeJobSpoolRecord(options.spoolDir, target.name, jobId).catch(() => undefined);
    return undefined;
  }
}
