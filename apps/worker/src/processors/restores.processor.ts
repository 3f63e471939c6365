import {
  type BackupTargetSpec,
  type RestoreProgress,
  type RestoreResult,
  type RestoreTestOutcome,
  restoreBackup,
  runRestoreTest,
} from '@warden/backup';
import { errorMessage } from '@warden/errors';
import type { Logger } from '@warden/logging';
import type { WardenMetrics } from '@warden/metrics';
import { backupAlerts, type Notifier } from '@warden/notify';
import { JOB_NAMES, QUEUE_NAMES, restoreJobSchema, restoreVerifyJobSchema } from '@warden/queue';
import type { BackupStorage } from '@warden/storage';
import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import type { ServerSlots } from '../backup-pacing.js';
import { createSafeSender } from '../notify-safely.js';
import type { TargetLock } from '../target-lock.js';
import type { BackupPipelineSettings } from './backup-steps.js';
import {
  createProgressThrottle,
  findJobTarget,
  handBackJob,
  parseJobPayload,
  toJobError,
} from './job-steps.js';
import { createSafetyBackupStep } from './safety-backup.js';

/** What restores tell the outside world. Never throws: a failing Slack never fails a restore. */
export interface RestoreEvents {
  restoreSucceeded(
    target: BackupTargetSpec,
    result: RestoreResult,
    context: { jobId?: string },
  ): Promise<void>;
  restoreFailed(
    target: BackupTargetSpec,
    error: unknown,
    context: { jobId?: string; file: string; database?: string; dryRun: boolean },
  ): Promise<void>;
  /** A restore test ran to a verdict (passed or failed). */
  restoreTestFinished(
    target: BackupTargetSpec,
    outcome: RestoreTestOutcome,
    context: { jobId?: string },
  ): Promise<void>;
}

export interface RestoreEventsDeps {
  logger: Logger;
  notifier?: Notifier;
  metrics?: Pick<WardenMetrics, 'lastVerifiedRestoreTimestamp' | 'restoreVerificationsTotal'> | undefined;
}

export function createRestoreEvents(deps: RestoreEventsDeps): RestoreEvents {
  const { logger, notifier, metrics } = deps;
  const send = createSafeSender(notifier, logger);
  return {
    async restoreSucceeded(target, result, context) {
      logger.info(
        {
          jobId: context.jobId,
          target: target.name,
          file: result.file,
          database: result.database,
          status: result.status,
        },
        result.status === 'dry-run' ? 'dry-run restore checked' : 'restore completed and checked',
      );
      await send(
        backupAlerts.restoreResult({
          target: target.name,
          file: result.file,
          database: result.database,
          success: true,
          duration_ms: result.duration_ms,
          dryRun: result.dryRun,
          ...(result.check ? { tables: result.check.tables, rows: result.check.rows } : {}),
          ...(context.jobId ? { jobId: context.jobId } : {}),
        }),
      );
    },

    async restoreFailed(target, error, context) {
      const code = (error as { code?: unknown } | undefined)?.code;
      logger.error({ err: error, jobId: context.jobId, target: target.name, code }, 'restore failed');
      await send(
        backupAlerts.restoreResult({
          target: target.name,
          file: context.file,
          database: context.database ?? 'a new database',
          success: false,
          dryRun: context.dryRun,
          error: errorMessage(error),
          ...(context.jobId ? { jobId: context.jobId } : {}),
        }),
      );
    },

    async restoreTestFinished(target, outcome, context) {
      const passed = outcome.record.status === 'passed';
      metrics?.restoreVerificationsTotal.inc({ target: target.name, result: passed ? 'success' : 'failure' });
      if (passed) {
        metrics?.lastVerifiedRestoreTimestamp.set(
          { target: target.name },
          Date.parse(outcome.record.at) / 1000,
        );
        logger.info({ jobId: context.jobId, target: target.name, file: outcome.file }, 'restore test passed');
        return;
      }
      const problems = outcome.record.problems ?? [];
      logger.error(
        { jobId: context.jobId, target: target.name, file: outcome.file, problems },
        'restore test failed',
      );
      await send(
        backupAlerts.restoreTestFailed({
          target: target.name,
          file: outcome.file,
          reason: problems.slice(0, 10).join('\n') || 'the restored database differs from the backup',
          ...(context.jobId ? { jobId: context.jobId } : {}),
        }),
      );
    },
  };
}

/** Restore settings taken from the configuration. */
export interface RestoreSettings {
  spoolDir: string;
  minFreeBytes: number;
  psqlPath: string;
  timeoutMs: number;
  encryptionKey?: string | undefined;
  /** How the safety backup before an overwrite is taken (the backup pipeline's settings). */
  safetyBackup: BackupPipelineSettings;
}

export interface RestoreProcessorDeps {
  targets: readonly BackupTargetSpec[];
  settings: RestoreSettings;
  storage: BackupStorage;
  logger: Logger;
  events: RestoreEvents;
  /** The backup processor's lock per target, taken for the safety backup before an overwrite. */
  lockFor: (target: string) => TargetLock;
  /** Wait before trying again when a backup of the target holds the lock. @defaultValue 30000 */
  lockedRetryDelayMs?: number;
  /** The backup processor's dump slots per database server, taken for the safety dump. */
  serverSlots?: ServerSlots | undefined;
  /** Wait before trying again when the server has no free dump slot. @defaultValue 2000, jittered */
  serverBusyRetryDelayMs?: number;
}

/**
 * The `restores` queue: `restore.run` (docs/architecture.md#restore, one restore asked for by the API or CLI) and
 * `restore.verify` (docs/architecture.md#restore-test, the scheduled restore test of a target's newest backup).
 */
export function createRestoreProcessor(deps: RestoreProcessorDeps) {
  const { settings } = deps;

  // Shutting down: a half-restored database is already dropped when the job is handed back.
  const handBack = (job: Job, token: string | undefined, log: Logger) =>
    handBackJob(job, token, log, 'restore');

  const common = (job: Job) => ({
    spoolDir: settings.spoolDir,
    minFreeBytes: settings.minFreeBytes,
    psqlPath: settings.psqlPath,
    timeoutMs: settings.timeoutMs,
    ...(settings.encryptionKey === undefined ? {} : { encryptionKey: settings.encryptionKey }),
    ...(job.id === undefined ? {} : { jobId: job.id }),
    onProgress: createProgressThrottle<RestoreProgress>(job, (progress) => progress.phase === 'done'),
  });

  async function runRestore(job: Job, token: string | undefined, signal: AbortSignal | undefined) {
    const data = parseJobPayload(restoreJobSchema, job.data, 'restore');
    const target = findJobTarget(deps.targets, data.target);
    const log = deps.logger.child({ jobId: job.id, target: target.name, queue: QUEUE_NAMES.restores });
    const safety = createSafetyBackupStep(
      {
        settings: settings.safetyBackup,
        storage: deps.storage,
        lockFor: deps.lockFor,
        lockedRetryDelayMs: deps.lockedRetryDelayMs,
        serverSlots: deps.serverSlots,
        serverBusyRetryDelayMs: deps.serverBusyRetryDelayMs,
      },
      job,
      token,
      target,
      log,
    );
    try {
      const result = await restoreBackup(
        { storage: deps.storage, logger: log },
        {
          ...common(job),
          target,
          file: data.file,
          ...(data.database === undefined ? {} : { database: data.database }),
          overwrite: data.overwrite,
          dryRun: data.dryRun,
          takeSafetyBackup: safety.take,
          ...(signal ? { signal } : {}),
        },
      );
      await safety.release();
      await deps.events.restoreSucceeded(target, result, { ...(job.id ? { jobId: job.id } : {}) });
      return result;
    } catch (error) {
      await safety.release();
      // A backup of the target holds its lock, or its server has no free dump slot: the job is
      // already delayed, nothing was written.
      if (error instanceof DelayedError) throw error;
      if (signal?.aborted) return handBack(job, token, log);
      await deps.events.restoreFailed(target, error, {
        ...(job.id ? { jobId: job.id } : {}),
        file: data.file,
        ...(data.database === undefined ? {} : { database: data.database }),
        dryRun: data.dryRun,
      });
      throw toJobError(error);
    }
  }

  async function runRestoreTestJob(job: Job, token: string | undefined, signal: AbortSignal | undefined) {
    const data = parseJobPayload(restoreVerifyJobSchema, job.data, 'restore test');
    const target = findJobTarget(deps.targets, data.target);
    const log = deps.logger.child({ jobId: job.id, target: target.name, queue: QUEUE_NAMES.restores });
    let outcome: RestoreTestOutcome;
    try {
      outcome = await runRestoreTest(
        { storage: deps.storage, logger: log },
        { ...common(job), target, ...(signal ? { signal } : {}) },
      );
    } catch (error) {
      if (signal?.aborted) return handBack(job, token, log);
      log.error({ err: error }, 'restore test could not run');
      throw toJobError(error);
    }
    await deps.events.restoreTestFinished(target, outcome, { ...(job.id ? { jobId: job.id } : {}) });
    if (outcome.record.status === 'failed') {
      // Failing the job puts the bad backup in front of people: Bull Board, Sentry (the worker's
      // failed-job reporter), and no pointless retry.
      throw new UnrecoverableError(
        `RESTORE_VERIFICATION_FAILED: backup ${outcome.file} of target "${target.name}" did not restore as recorded: ${(outcome.record.problems ?? []).slice(0, 5).join('; ')}`,
      );
    }
    return {
      status: 'passed',
      target: target.name,
      file: outcome.file,
      at: outcome.record.at,
      duration_ms: outcome.record.duration_ms,
      // The whole proof too: its notes (counts only across majors, the server's default locale) say
      // what "passed" rests on.
      ...(outcome.check
        ? { tables: outcome.check.tables, rows: outcome.check.rows, check: outcome.check }
        : {}),
    };
  }

  return async function processRestore(job: Job, token?: string, signal?: AbortSignal): Promise<unknown> {
    if (job.name === JOB_NAMES.restoreRun) return runRestore(job, token, signal);
    if (job.name === JOB_NAMES.restoreVerify) return runRestoreTestJob(job, token, signal);
    throw new UnrecoverableError(`unknown job "${job.name}" on the ${QUEUE_NAMES.restores} queue`);
  };
}
