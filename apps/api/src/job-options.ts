import type { JobsOptions } from 'bullmq';

/**
 * A backup that failed for a transient reason (database restarting, disk briefly full) is tried
 * again; permanent failures end the job at once (the worker throws UnrecoverableError) and upload
 * retries are handled by the worker without dumping again (SPEC B5).
 */
export const BACKUP_JOB_OPTIONS = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 60_000 },
} as const satisfies JobsOptions;

/** A restore writes into a database: it is never repeated without an operator asking again. */
export const RESTORE_JOB_OPTIONS = { attempts: 1 } as const satisfies JobsOptions;

/** A verification may meet a busy server; one more try an hour later is enough. */
export const RESTORE_VERIFY_JOB_OPTIONS = {
  attempts: 2,
  backoff: { type: 'fixed', delay: 3_600_000 },
} as const satisfies JobsOptions;

/** Probes run every interval anyway; a failed run is not worth retrying. */
export const PROBES_JOB_OPTIONS = {
  attempts: 1,
  removeOnComplete: { count: 100 },
  removeOnFail: { count: 100 },
} as const satisfies JobsOptions;

/** Where a client polls a job it was handed. */
export function jobStatusUrl(jobId: string): string {
  return `/api/admin/jobs/${encodeURIComponent(jobId)}`;
}
