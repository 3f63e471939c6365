import { isWardenError } from '@warden/errors';
import type { Logger } from '@warden/logging';
import { DelayedError, type Job, UnrecoverableError, WaitingError } from 'bullmq';
import type { TargetLock } from '../target-lock.js';

/*
 * The steps every processor shares. Each ends a job the way BullMQ expects: `UnrecoverableError`
 * for what no retry can fix (BullMQ then skips the remaining attempts), `WaitingError` after
 * handing the job back, a plain error for the queue's retry policy.
 */

type SafeParse<T> =
  | { success: true; data: T }
  | { success: false; error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] } };

/**
 * Validates job data with its queue schema; bad data is permanent (it will not get better).
 * `explanation` is appended to the message, for data a queue refuses on purpose.
 */
export function parseJobPayload<T>(
  schema: { safeParse(data: unknown): SafeParse<T> },
  data: unknown,
  what: string,
  explanation = '',
): T {
  const parsed = schema.safeParse(data);
  if (!parsed.success) {
    throw new UnrecoverableError(
      `invalid ${what} job data: ${parsed.error.issues.map((i) => `${i.path.map(String).join('.')}: ${i.message}`).join('; ')}${explanation}`,
    );
  }
  return parsed.data;
}

/** The configured target a job names; an unknown one is permanent. */
export function findJobTarget<T extends { name: string }>(targets: readonly T[], name: string): T {
  const target = targets.find((candidate) => candidate.name === name);
  if (!target) {
    throw new UnrecoverableError(
      `unknown target "${name}"; configured targets: ${targets.map((t) => t.name).join(', ')}`,
    );
  }
  return target;
}

/** How often a job's progress is written to Redis at most (on every chunk it would flood Redis). */
export const PROGRESS_INTERVAL_MS = 500;

/**
 * A progress writer that drops updates closer than {@link PROGRESS_INTERVAL_MS} to the last one,
 * except those `isFinal` marks. Failures to write progress are ignored: progress is advisory.
 */
export function createProgressThrottle<P extends object>(
  job: Pick<Job, 'updateProgress'>,
  isFinal: (progress: P) => boolean = () => false,
): (progress: P) => void {
  let last = 0;
  return (progress) => {
    const now = Date.now();
    if (now - last < PROGRESS_INTERVAL_MS && !isFinal(progress)) return;
    last = now;
    job.updateProgress({ ...progress }).catch(() => undefined);
  };
}

/**
 * Shutting down mid-job: the job goes back to `wait` so that another worker (or this one after a
 * restart) starts it afresh instead of it stalling until the lock expires.
 */
export async function handBackJob(
  job: Pick<Job, 'moveToWait'>,
  token: string | undefined,
  log: Pick<Logger, 'warn'>,
  what: string,
): Promise<never> {
  log.warn(`${what} interrupted by shutdown; handing the job back`);
  await job.moveToWait(token);
  throw new WaitingError();
}

/** How long a job that found its target locked waits before it tries again, by default. */
export const LOCKED_RETRY_DELAY_MS = 30_000;

/**
 * Takes the target lock; when another job holds it, moves this job to `delayed` (a BullMQ delay:
 * it holds no worker slot and survives a restart) and ends it with `DelayedError`.
 */
export async function lockOrDelay(
  lock: TargetLock,
  job: Pick<Job, 'moveToDelayed'>,
  token: string | undefined,
  delayMs: number,
  log: Pick<Logger, 'info'>,
  message: string,
): Promise<void> {
  if (await lock.acquire()) return;
  log.info(message);
  await job.moveToDelayed(Date.now() + delayMs, token);
  throw new DelayedError();
}

/**
 * The one mapping of Warden's errors to BullMQ's: a permanent error ends the job at once
 * (`UnrecoverableError`), a transient one is retried by the queue's policy. Both carry the stable
 * code in front of the message, which is what the job's `failedReason` shows.
 */
export function toJobError(error: unknown): unknown {
  if (!isWardenError(error)) return error;
  const message = `${error.code}: ${error.message}`;
  return error.permanent ? new UnrecoverableError(message) : new Error(message, { cause: error });
}
