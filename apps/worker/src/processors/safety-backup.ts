import {
  type BackupTargetSpec,
  removeSpooledBackup,
  safetyBackupFailed,
  safetyBackupTarget,
  type TakeSafetyBackup,
} from '@warden/backup';
import { SAFETY_COPY_TRIGGER } from '@warden/catalog';
import type { Logger } from '@warden/logging';
import type { Job } from 'bullmq';
import type { ServerSlots } from '../backup-pacing.js';
import type { TargetLock } from '../target-lock.js';
import {
  type BackupStepDeps,
  dumpPercent,
  dumpToSpool,
  nextSecondAfter,
  uploadOnce,
  uploadPercent,
} from './backup-steps.js';
import {
  LOCKED_RETRY_DELAY_MS,
  lockOrDelay,
  releaseServerSlot,
  SERVER_BUSY_RETRY_DELAY_MS,
  serverSlotOrDelay,
} from './job-steps.js';

export interface SafetyBackupStepDeps extends BackupStepDeps {
  /** The backup processor's lock per target. */
  lockFor: (target: string) => TargetLock;
  /** Wait before the restore tries again when a backup of the target holds the lock. @defaultValue 30000 */
  lockedRetryDelayMs?: number | undefined;
  /** The backup processor's dump slots per database server (`BACKUP_SERVER_CONCURRENCY`). */
  serverSlots?: ServerSlots | undefined;
  /** Wait before the restore tries again when the server has no free slot. @defaultValue 2000, jittered */
  serverBusyRetryDelayMs?: number | undefined;
}

export interface SafetyBackupStep {
  take: TakeSafetyBackup;
  /** Gives up the target lock if `take` took it; call once the restore has ended, however it ended. */
  release(): Promise<void>;
}

/**
 * The worker's safety backup before a restore job replaces a database (docs/architecture.md#restore):
 * under the target lock the backup processor takes, so no backup of the target runs meanwhile, and
 * with one of its database server's dump slots for the dump — a restore that finds either taken
 * goes to `delayed` and starts again later. Then one dump and one upload
 * attempt through the backup processor's steps, without retention. It never waits inside the job:
 * a failed upload fails the restore with the upload's error (transient or permanent), nothing
 * replaced, and the safety dump is removed from the spool.
 */
export function createSafetyBackupStep(
  deps: SafetyBackupStepDeps,
  job: Job,
  token: string | undefined,
  target: BackupTargetSpec,
  log: Logger,
): SafetyBackupStep {
  let lock: TargetLock | undefined;
  let holdNameUntil: number | undefined;
  return {
    async take(database, signal, onProgress) {
      const candidate = deps.lockFor(target.name);
      await lockOrDelay(
        candidate,
        job,
        token,
        deps.lockedRetryDelayMs ?? LOCKED_RETRY_DELAY_MS,
        log,
        'a backup of this target is running; the restore tries again later',
      );
      // Held until the restore has ended: no backup of the target runs while its database is swapped.
      lock = candidate;
      // Like a backup's dump, the safety dump counts against its server's cap; the upload does not.
      const slot = await serverSlotOrDelay(
        deps.serverSlots,
        target.databaseUrl,
        job,
        token,
        deps.serverBusyRetryDelayMs ?? SERVER_BUSY_RETRY_DELAY_MS,
        log,
      );
      const spooled = await dumpToSpool(deps, log, {
        target: safetyBackupTarget(target, database),
        trigger: SAFETY_COPY_TRIGGER,
        jobId: job.id,
        signal,
        ...(onProgress
          ? {
              onProgress: (progress) => onProgress({ percent: dumpPercent(progress), bytes: progress.bytes }),
            }
          : {}),
      })
        .catch((error: unknown) => {
          throw safetyBackupFailed(database, error);
        })
        .finally(() => releaseServerSlot(slot, log));
      holdNameUntil = nextSecondAfter(spooled.manifest.started_at);
      const totalBytes = spooled.manifest.bytes;
      try {
        const reportUpload = onProgress
          ? (bytesSent: number) =>
              onProgress({ percent: uploadPercent(bytesSent, totalBytes, 100), bytes: bytesSent })
          : undefined;
        return (await uploadOnce(deps, log, spooled, spooled.streamedUpload, reportUpload)).filename;
      } catch (error) {
        await removeSpooledBackup(spooled.spoolPath).catch((removeError: unknown) =>
          log.warn({ err: removeError }, 'could not remove the safety dump from the spool'),
        );
        throw safetyBackupFailed(database, error);
      }
    },
    async release() {
      await lock
        ?.release(holdNameUntil)
        .catch((error: unknown) => log.warn({ err: error }, 'could not release target lock'));
      lock = undefined;
    },
  };
}
