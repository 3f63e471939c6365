import { databaseServerOf } from '@warden/config';
import { isWardenError } from '@warden/errors';
import type { Logger } from '@warden/logging';
import { DelayedError, type Job, UnrecoverableError, WaitingError } from 'bullmq';
import type { ServerSlot, ServerSlots } from '../backup-pacing.js';
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
 * except those `isFinal` marks and the first of a new phase (the console always shows the phase a
 * job is in). Failures to write progress are ignored: progress is advisory.
 */
export function createProgressThrottle<P extends { phase: string }>(
  job: Pick<Job, 'updateProgress'>,
  isFinal: (progress: P) => boolean = () => false,
): (progress: P) => void {
  let last = 0;
  let lastPhase: string | undefined;
  return (progress) => {
    const now = Date.now();
    if (now - last < PROGRESS_INTERVAL_MS && progress.phase === lastPhase && !isFinal(progress)) return;
    last = now;
    lastPhase = progress.phase;
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

/** How long a job that found its database server's slots taken waits at least, by default. */
export const SERVER_BUSY_RETRY_DELAY_MS = 2_000;

/**
 * Takes a slot on the database server of `databaseUrl` (`BACKUP_SERVER_CONCURRENCY`); without
 * `slots` there is no cap and nothing to take. When every slot is held, moves this job to `delayed`
 * like {@link lockOrDelay} and ends it with `DelayedError`. The delay is `delayMs` plus up to as
 * much again at random, so jobs waiting for one server do not all come back in the same instant.
 */
export async function serverSlotOrDelay(
  slots: ServerSlots | undefined,
  databaseUrl: string,
  job: Pick<Job, 'moveToDelayed'>,
  token: string | undefined,
  delayMs: number,
  log: Pick<Logger, 'debug'>,
): Promise<ServerSlot | undefined> {
  if (!slots) return undefined;
  const server = databaseServerOf(databaseUrl);
  const slot = await slots.acquire(server);
  if (slot) return slot;
  log.debug({ server }, 'every dump slot of the database server is taken; trying again later');
  await job.moveToDelayed(Date.now() + delayMs + Math.floor(Math.random() * delayMs), token);
  throw new DelayedError();
}

/** Gives a server slot back (its release retries through a Redis failover); failing that, it expires. */
export async function releaseServerSlot(
  slot: ServerSlot | undefined,
  log: Pick<Logger, 'warn'>,
): Promise<void> {
  await slot?.release().catch((error: unknown) => log.warn({ err: error }, 'could not release server slot'));
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
