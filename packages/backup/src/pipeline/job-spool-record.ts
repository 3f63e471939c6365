import { createHash } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isBackupFileNameOf, readPrivateFile, writePrivateFile } from './spool-record.js';
import type { BackupTargetSpec } from './target.js';

/**
 * A job's claim on a spooled dump (docs/architecture.md#resuming-a-re-run-job): once a job's dump
 * passed its integrity check and is spooled, the worker writes `<target>.job-<job key>.job.json`
 * (mode 0600) naming the backup's file name. Whoever runs the job again (a stalled job recovered,
 * a retry, possibly on another worker sharing the spool directory) finds it by job id and target,
 * and resumes from the spooled dump or the manifest already in storage instead of dumping again.
 * It is removed once the job completed, or by the spool sweep once no job owns it.
 */
export const JOB_RECORD_SUFFIX = '.job.json';

export interface JobSpoolRecord {
  job_id: string;
  target: string;
  /** The backup file name the job's dump has (see `backupFileName`). */
  filename: string;
}

/** A record holds three short strings; anything bigger is not ours. */
const MAX_JOB_RECORD_BYTES = 4096;

/** The job id as it may appear in a file name: itself when plain, else a digest of it. */
function jobKey(jobId: string): string {
  return /^[A-Za-z0-9_-]{1,64}$/.test(jobId)
    ? jobId
    : createHash('sha256').update(jobId).digest('hex').slice(0, 32);
}

export function jobRecordPathFor(spoolDir: string, target: string, jobId: string): string {
  return join(spoolDir, `${target}.job-${jobKey(jobId)}${JOB_RECORD_SUFFIX}`);
}

/** Writes (or replaces) the job's record. Throws the file system's error. */
export async function writeJobSpoolRecord(spoolDir: string, record: JobSpoolRecord): Promise<void> {
  await writePrivateFile(
    jobRecordPathFor(spoolDir, record.target, record.job_id),
    `${JSON.stringify(record)}\n`,
  );
}

function parseJobRecord(
  text: string | undefined,
  target: Pick<BackupTargetSpec, 'name' | 'database' | 'environment'> | undefined,
): JobSpoolRecord | undefined {
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as Partial<JobSpoolRecord>;
    if (
      typeof value.job_id !== 'string' ||
      typeof value.target !== 'string' ||
      typeof value.filename !== 'string'
    ) {
      return undefined;
    }
    if (target && (value.target !== target.name || !isBackupFileNameOf(target, value.filename)))
      return undefined;
    return { job_id: value.job_id, target: value.target, filename: value.filename };
  } catch {
    return undefined;
  }
}

/**
 * The record of `jobId` for `target`, when this process's user wrote it and it names a backup file
 * name of the target; `undefined` when there is none (or one that is not ours).
 */
export async function readJobSpoolRecord(
  spoolDir: string,
  target: Pick<BackupTargetSpec, 'name' | 'database' | 'environment'>,
  jobId: string,
): Promise<JobSpoolRecord | undefined> {
  const text = await readPrivateFile(
    jobRecordPathFor(spoolDir, target.name, jobId),
    MAX_JOB_RECORD_BYTES,
  ).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  });
  const record = parseJobRecord(text, target);
  return record?.job_id === jobId ? record : undefined;
}

export async function removeJobSpoolRecord(spoolDir: string, target: string, jobId: string): Promise<void> {
  await rm(jobRecordPathFor(spoolDir, target, jobId), { force: true });
}

/**
 * Every job record in the spool directory with its file name; `record` is undefined for one that is
 * unreadable or not ours (the sweep leaves those to the operator).
 */
export async function listJobSpoolRecords(
  spoolDir: string,
): Promise<{ name: string; record: JobSpoolRecord | undefined }[]> {
  let names: string[];
  try {
    names = await readdir(spoolDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const records = [];
  for (const name of names.filter((candidate) => candidate.endsWith(JOB_RECORD_SUFFIX))) {
    const text = await readPrivateFile(join(spoolDir, name), MAX_JOB_RECORD_BYTES).catch(() => undefined);
    const record = parseJobRecord(text, undefined);
    records.push({ name, record: record && name.startsWith(`${record.target}.`) ? record : undefined });
  }
  return records;
}
