import { hostname } from 'node:os';
import {
  type BackupProgress,
  type BackupTargetSpec,
  loadSpooledBackup,
  nextUploadStep,
  removeSpooledBackup,
  type SpooledBackup,
  spoolPathFor,
  writeJobSpoolRecord,
  writeSpoolRecord,
} from '@warden/backup';
import { applyRetention, type BackupManifest, toBackupResult } from '@warden/catalog';
import { errorMessage } from '@warden/errors';
import type { Logger } from '@warden/logging';
import { type BackupJobPayload, type BackupJobResult, backupJobSchema, QUEUE_NAMES } from '@warden/queue';
import type { BackupStorage } from '@warden/storage';
import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import type { BackupEvents } from '../backup-events.js';
import { type ServerSlot, type ServerSlots, spreadStartAt } from '../backup-pacing.js';
import { removeStalePartials } from '../spool-cleanup.js';
import { retryRedis, type TargetLock } from '../target-lock.js';
import {
  type BackupPipelineSettings,
  DUMP_PERCENT_END,
  dumpPercent,
  dumpToSpool,
  nextSecondAfter,
  type StreamedUpload,
  uploadOnce,
  uploadPercent,
} from './backup-steps.js';
import {
  createProgressThrottle,
  findJobTarget,
  handBackJob,
  LOCKED_RETRY_DELAY_MS,
  lockOrDelay,
  parseJobPayload,
  releaseServerSlot,
  SERVER_BUSY_RETRY_DELAY_MS,
  serverSlotOrDelay,
  toJobError,
} from './job-steps.js';
import { findResumePoint } from './resume-backup.js';

export type { BackupPipelineSettings } from './backup-steps.js';

export interface BackupProcessorDeps {
  targets: readonly BackupTargetSpec[];
  settings: BackupPipelineSettings;
  storage: BackupStorage;
  logger: Logger;
  events: BackupEvents;
  /** A lock per target so that two backups of one target never run at once. */
  lockFor: (target: string) => TargetLock;
  /**
   * The cap on dumps at once per database server, shared by every worker (`BACKUP_SERVER_CONCURRENCY`).
   * Without it only the worker slots limit them.
   */
  serverSlots?: ServerSlots | undefined;
  /** Wait before trying again when the target's database server has no free slot. @defaultValue 2000 */
  serverBusyRetryDelayMs?: number;
  /**
   * `BACKUP_SCHEDULE_SPREAD`: a scheduled job waits (delayed, holding no slot) until its target's
   * place in this window after the scheduled time. @defaultValue 0 (no spread)
   */
  scheduleSpreadMs?: number;
  /** Told when a scheduled backup really starts dumping (the dead-man "start" ping). Never awaited long. */
  onScheduledStart?: ((target: string) => Promise<void> | undefined) | undefined;
  /** The cron of each target, for the spread. */
  scheduleOf?: ((target: string) => { pattern: string; timezone: string } | undefined) | undefined;
  /** Wait before trying again when another backup of the target holds the lock. @defaultValue 30000 */
  lockedRetryDelayMs?: number;
  host?: string;
}

type UploadState = NonNullable<BackupJobPayload['upload']>;

/**
 * Runs a backup as one BullMQ job in two steps. Step one dumps, compresses and integrity-checks into the
 * spool; step two uploads. A failed upload moves the same job to `delayed` (a BullMQ delay, so it
 * survives a worker restart) with the spooled file recorded in its data, so a retry never dumps again.
 */
export function createBackupProcessor(deps: BackupProcessorDeps) {
  const host = deps.host ?? hostname();

  return async function processBackup(
    job: Job,
    token?: string,
    signal?: AbortSignal,
  ): Promise<BackupJobResult> {
    const data = parseJobPayload(
      backupJobSchema,
      job.data,
      'backup',
      namesAPath(job.data) ? PATHS_REFUSED : '',
    );
    const target = findJobTarget(deps.targets, data.target);
    const log = deps.logger.child({ jobId: job.id, target: target.name, queue: QUEUE_NAMES.backups });

    if (data.trigger === 'schedule' && !data.upload) {
      const schedule = deps.scheduleOf?.(target.name);
      const startAt =
        schedule && spreadStartAt(schedule, target.name, deps.scheduleSpreadMs ?? 0, Date.now());
      if (startAt !== undefined && startAt > Date.now() + 50) {
        log.debug(
          { startAt: new Date(startAt).toISOString() },
          'scheduled backup waits for its place in the spread',
        );
        await job.moveToDelayed(startAt, token);
        throw new DelayedError();
      }
    }

    const lock = deps.lockFor(target.name);
    await lockOrDelay(
      lock,
      job,
      token,
      deps.lockedRetryDelayMs ?? LOCKED_RETRY_DELAY_MS,
      log,
      'another backup of this target is running; trying again later',
    );
    let slot: ServerSlot | undefined;
    // Backup names (docs/architecture.md#backup-names) have one-second resolution: the next backup
    // of this target may not start in the second this one's name took, so the lock outlives the job
    // until the second is over.
    let holdNameUntil: number | undefined;
    const jobId = String(job.id);

    try {
      // Holding the lock means no backup of this target runs anywhere: partial files are leftovers.
      await removeStalePartials({ spoolDir: deps.settings.spoolDir, target: target.name, logger: log }).catch(
        (error: unknown) => log.warn({ err: error }, 'could not clean the spool directory'),
      );
      const resumed = await findResumePoint({
        jobId,
        target,
        upload: data.upload,
        storage: deps.storage,
        spoolDir: deps.settings.spoolDir,
        log,
      }).catch((error: unknown) => {
        throw toJobError(error);
      });
      let manifest: BackupManifest;
      if (resumed && 'stored' in resumed) {
        manifest = resumed.stored;
        await removeSpooledBackup(spoolPathFor(deps.settings.spoolDir, target.name, manifest.filename)).catch(
          () => undefined,
        );
      } else {
        if (!data.upload && !resumed) {
          slot = await serverSlotOrDelay(
            deps.serverSlots,
            target.databaseUrl,
            job,
            token,
            deps.serverBusyRetryDelayMs ?? SERVER_BUSY_RETRY_DELAY_MS,
            log,
          );
        }
        let upload = data.upload;
        let spooled: SpooledBackup;
        let streamed: StreamedUpload | undefined;
        if (resumed) {
          spooled = resumed.spooled;
          upload = { file: resumed.file, host, attempts: 0 };
          await saveUploadState(job, { ...data, upload }, log, true);
        } else if (!upload) {
          if (data.trigger === 'schedule') await deps.onScheduledStart?.(target.name)?.catch(() => undefined);
          spooled = await runDumpStep(job, target, log, signal).catch(async (error: unknown) => {
            if (signal?.aborted) return handBackJob(job, token, log, 'backup');
            await deps.events.backupFailed(target, error, {
              jobId: job.id,
              attempt: job.attemptsMade + 1,
              trigger: data.trigger,
              startedAt: new Date(job.processedOn ?? Date.now()).toISOString(),
            });
            throw toJobError(error);
          });
          streamed = spooled.streamedUpload;
          const recorded = await recordSpooledDump(jobId, target, spooled, log);
          holdNameUntil = nextSecondAfter(spooled.manifest.started_at);
          // The dump is done: the server's slot goes to the next dump while this one uploads.
          await releaseServerSlot(slot, log);
          slot = undefined;
          upload = { file: spooled.manifest.filename, host, attempts: 0 };
          await saveUploadState(job, { ...data, upload }, log, recorded);
        } else {
          spooled = await loadRetry(target, upload).catch(async (error: unknown) => {
            await deps.events.backupFailed(target, error, {
              jobId: job.id,
              attempt: job.attemptsMade + 1,
              trigger: data.trigger,
              startedAt: new Date(job.processedOn ?? Date.now()).toISOString(),
            });
            throw error;
          });
        }
        manifest = await runUploadStep(job, token, target, upload, spooled, log, streamed);
      }
      // Progress is advisory: a Redis hiccup here must not fail a backup that is already stored.
      await job.updateProgress({ phase: 'retention', percent: 98 }).catch(() => undefined);
      try {
        await applyRetention({ storage: deps.storage, logger: log }, target, {
          retentionDays: target.retentionDays,
          keepLast: target.keepLast,
        });
      } catch (error) {
        // Retention trouble must not turn a stored, checked backup into a failure.
        log.warn({ err: error }, 'retention failed');
      }
      await job.updateProgress({ phase: 'done', percent: 100 }).catch(() => undefined);
      await deps.events.backupSucceeded(target, manifest, { jobId: job.id });
      return toBackupResult(manifest);
    } finally {
      await releaseServerSlot(slot, log);
      await lock
        .release(holdNameUntil)
        .catch((error: unknown) => log.warn({ err: error }, 'could not release target lock'));
    }
  };

  async function runDumpStep(
    job: Job,
    target: BackupTargetSpec,
    log: Logger,
    signal: AbortSignal | undefined,
  ) {
    const report = createProgressThrottle<BackupProgress>(
      job,
      (progress) => progress.percent >= DUMP_PERCENT_END,
    );
    return dumpToSpool(deps, log, {
      target,
      trigger: backupJobSchema.shape.trigger.parse(job.data.trigger),
      jobId: job.id,
      signal,
      onProgress: (progress) => report({ ...progress, percent: dumpPercent(progress) }),
    });
  }

  /**
   * The spooled dump a retry names by file name: at the path this worker derives, with the size and
   * SHA-256 of the spool record a worker wrote (see `loadSpooledBackup`); a spool directory shared
   * between hosts may hold it, otherwise the error says where it is.
   */
  async function loadRetry(target: BackupTargetSpec, upload: UploadState): Promise<SpooledBackup> {
    return loadSpooledBackup({ spoolDir: deps.settings.spoolDir, target, filename: upload.file }).catch(
      (error: unknown) => {
        if (upload.host !== host) {
          throw new UnrecoverableError(
            `the integrity-checked dump ${upload.file} is spooled on host ${upload.host}; this worker (${host}) cannot upload it`,
          );
        }
        throw toJobError(error);
      },
    );
  }

  /**
   * The spool record (size and SHA-256, for an upload retry) and the job's record (so that a re-run
   * of this job finds the dump). Returns whether both were written; without them the first upload
   * attempt still runs, only a retry or a re-run would dump again.
   */
  async function recordSpooledDump(
    jobId: string,
    target: BackupTargetSpec,
    spooled: SpooledBackup,
    log: Logger,
  ): Promise<boolean> {
    try {
      await writeSpoolRecord(spooled);
      await writeJobSpoolRecord(deps.settings.spoolDir, {
        job_id: jobId,
        target: target.name,
        filename: spooled.manifest.filename,
      });
      return true;
    } catch (error) {
      log.warn({ err: error }, 'could not write the spool records; a failed upload cannot be retried');
      return false;
    }
  }

  async function runUploadStep(
    job: Job,
    token: string | undefined,
    target: BackupTargetSpec,
    upload: UploadState,
    spooled: SpooledBackup,
    log: Logger,
    streamed?: StreamedUpload,
  ): Promise<BackupManifest> {
    const { manifest, spoolPath } = spooled;
    await job
      .updateProgress({ phase: 'upload', percent: 80, attempt: upload.attempts + 1 })
      .catch(() => undefined);
    try {
      // A streamed upload that failed counts as the first attempt; the retries use the spool file.
      return await uploadOnce(deps, log, spooled, streamed, (bytesSent) => {
        const percent = uploadPercent(bytesSent, manifest.bytes, 97);
        job.updateProgress({ phase: 'upload', percent, bytes: bytesSent }).catch(() => undefined);
      });
    } catch (error) {
      const failedAttempts = upload.attempts + 1;
      const message = errorMessage(error);
      const step = nextUploadStep(failedAttempts, error, deps.settings);
      await deps.events.uploadFailed(target, error, {
        jobId: job.id,
        attempt: failedAttempts,
        maxAttempts: deps.settings.uploadRetryAttempts + 1,
        final: 'fail' in step,
        spoolPath,
        trigger: manifest.trigger,
        startedAt: manifest.started_at,
      });
      if ('fail' in step) {
        if (step.fail !== 'attempts-exhausted') throw toJobError(error);
        throw new UnrecoverableError(
          `upload failed after ${failedAttempts} attempts; the integrity-checked dump is kept at ${spoolPath}: ${message}`,
        );
      }
      const retryAt = Date.now() + step.retryInMs;
      log.warn(
        { err: error, attempt: failedAttempts, retryAt: new Date(retryAt).toISOString() },
        'upload failed; retrying later without dumping again',
      );
      await job.updateData({
        ...job.data,
        upload: { ...upload, attempts: failedAttempts, lastError: message.slice(0, 500) },
      });
      await job
        .updateProgress({ phase: 'upload-wait', percent: 80, attempt: failedAttempts, retryAt })
        .catch(() => undefined);
      await job.moveToDelayed(retryAt, token);
      throw new DelayedError();
    }
  }
}

/**
 * Writes the upload state into the job's data, retried through a Redis failover. When the job's
 * record in the spool names the dump, a re-run finds it there anyway, so a failure is only logged.
 */
async function saveUploadState(
  job: Job,
  data: BackupJobPayload,
  log: Logger,
  recorded: boolean,
): Promise<void> {
  try {
    await retryRedis(() => job.updateData(data));
  } catch (error) {
    if (!recorded) throw error;
    log.warn({ err: error }, 'could not save the upload state in the job; a re-run resumes from the spool');
  }
}

const PATHS_REFUSED =
  '. Job data names a spooled dump by its file name only (upload.file); a worker uploads only dumps it spooled itself, so paths and manifests in job data are refused';

function namesAPath(data: unknown): boolean {
  const upload = (data as { upload?: unknown } | null)?.upload;
  return typeof upload === 'object' && upload !== null && ('spoolPath' in upload || 'manifest' in upload);
}
