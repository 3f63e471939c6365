import type { JobsOptions } from 'bullmq';

/**
 * A backup that failed for a transient reason (database restarting, disk briefly full) is tried
 * again; permanent failures end the job at once (the worker throws UnrecoverableError) and upload
 * retries are handled by the worker without dumping again (docs/architecture.md#upload-retries).
 */
export const BACKUP_JOB_OPTIONS = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 60_000 },
} as const satisfies JobsOptions;

/** A restore writes into a database: it is never repeated without an operator asking again. */
export const RESTORE_JOB_OPTIONS = { attempts: 1 } as const satisfies JobsOptions;

/** A restore test may meet a busy server; one more try an hour later is enough. */
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

/** Queue names as the job routes spell them. */
type JobQueue = 'backups' | 'restores' | 'probes';

/**
 * The queue an id belongs to, when the id says so: the API's own ids (`backup-…`, `restore-…`) and
 * those of job schedulers (`repeat:<scheduler id>:<time>`). Ids without such a mark (Bull Board
 * numbers its jobs per queue) give `undefined`.
 */
export function queueOfJobId(jobId: string): JobQueue | undefined {
  if (jobId.startsWith('backup-') || jobId.startsWith('repeat:backup:')) return 'backups';
  if (jobId.startsWith('restore-') || jobId.startsWith('repeat:restore-verify:')) return 'restores';
  if (jobId.startsWith('repeat:probes:')) return 'probes';
  return undefined;
}

/**
 * Where a client polls a job it was handed: `/api/admin/jobs/<id>` when the id names its queue,
 * else `/api/admin/jobs/<id>?queue=<queue>` (an id several queues may hold).
 */
export function jobStatusUrl(jobId: string, queue: JobQueue): string {
  const url = `/api/admin/jobs/${encodeURIComponent(jobId)}`;
  return queueOfJobId(jobId) === queue ? url : `${url}?queue=${queue}`;
}
