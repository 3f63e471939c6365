import { setTimeout as delay } from 'node:timers/promises';
import { applyRetention, type BackupManifest, type RetentionOutcome } from '@warden/catalog';
import { type BackupError, errorMessage } from '@warden/errors';
import type { Logger } from '@warden/logging';
import type { BackupStorage } from '@warden/storage';
import { createSpooledBackup } from './dump.js';
import type { CreateSpooledBackupOptions } from './dump-options.js';
import { uploadSpooledBackup } from './upload.js';
import {
  isUploadError,
  nextUploadStep,
  streamedUploadFailure,
  type UploadRetrySettings,
} from './upload-policy.js';

export interface RunBackupDeps {
  storage: BackupStorage;
  logger: Logger;
  /** Waits between upload attempts; injectable for tests. @defaultValue timers/promises setTimeout */
  sleep?: (ms: number) => Promise<void>;
}

export interface RunBackupOptions
  extends Omit<CreateSpooledBackupOptions, 'streamUpload'>,
    UploadRetrySettings {
  /** Apply the target's retention after a successful backup. @defaultValue true */
  retention?: boolean;
  /**
   * Called after each failed upload attempt (1-based); `final` is true when no retry follows and the
   * error is about to be thrown. Awaited; its own failure is logged, never thrown.
   */
  onUploadRetry?: (attempt: number, error: BackupError, final: boolean) => void | Promise<void>;
  onUploadProgress?: (bytes: number) => void;
  onRetention?: (outcome: RetentionOutcome) => void;
  /**
   * Upload while dumping instead of after: `auto` does it for remote (S3) storage, where the upload
   * takes real time; a local directory gains nothing from it. The spool file is written either way
   * and a failed streamed upload counts as the first attempt (docs/architecture.md#upload-retries). @defaultValue 'auto'
   */
  uploadWhileDumping?: boolean | 'auto';
}

async function notifyRetry(
  options: RunBackupOptions,
  attempt: number,
  error: BackupError,
  final: boolean,
  log: Logger,
): Promise<void> {
  try {
    await options.onUploadRetry?.(attempt, error, final);
  } catch (callbackError) {
    log.warn({ err: callbackError }, 'upload retry callback failed');
  }
}

/**
 * The whole pipeline in one process (the CLI's `backup:create`): dump and integrity-check once, upload with
 * retries, then retention — only after the backup is stored and passed the stored-object check. Returns the manifest.
 */
export async function runBackup(deps: RunBackupDeps, options: RunBackupOptions): Promise<BackupManifest> {
  const { storage, logger } = deps;
  const sleep =
    deps.sleep ?? ((ms: number) => delay(ms, undefined, options.signal ? { signal: options.signal } : {}));
  const log = logger.child({
    target: options.target.name,
    ...(options.jobId ? { jobId: options.jobId } : {}),
  });

  const streaming =
    options.uploadWhileDumping === 'auto' || options.uploadWhileDumping === undefined
      ? storage.prefersStreamedUpload
      : options.uploadWhileDumping;
  const spooled = await createSpooledBackup(
    { logger },
    streaming
      ? {
          ...options,
          streamUpload: (body, info) =>
            storage.putStream(info.key, body, {
              contentType: info.contentType,
              expectedSize: info.expectedSize,
              ...(options.onUploadProgress ? { onProgress: options.onUploadProgress } : {}),
              ...(options.signal ? { signal: options.signal } : {}),
            }),
        }
      : options,
  );
  let manifest: BackupManifest | undefined;
  for (let attempt = 1; manifest === undefined; attempt++) {
    try {
      const streamedFailure = attempt === 1 ? streamedUploadFailure(spooled, storage) : undefined;
      if (streamedFailure) throw streamedFailure;
      manifest = await uploadSpooledBackup({ storage, logger }, spooled, {
        ...(options.onUploadProgress ? { onProgress: options.onUploadProgress } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.now ? { now: options.now } : {}),
        alreadyStored: attempt === 1 && spooled.streamedUpload?.ok === true,
      });
    } catch (error) {
      const step = nextUploadStep(attempt, error, options, Boolean(options.signal?.aborted));
      if (!isUploadError(error)) throw error;
      await notifyRetry(options, attempt, error, 'fail' in step, log);
      if ('fail' in step) throw error;
      log.warn(
        { err: error, attempt, attempts: 1 + options.uploadRetryAttempts, retryInMs: step.retryInMs },
        'backup upload failed; retrying without dumping again',
      );
      await sleep(step.retryInMs);
    }
  }

  if (options.retention !== false) {
    try {
      // The target object carries the grandfather-father-son counts too.
      const outcome = await applyRetention({ storage, logger }, options.target, {
        retentionDays: options.target.retentionDays,
        keepLast: options.target.keepLast,
      });
      options.onRetention?.(outcome);
    } catch (error) {
      // The backup itself is stored and checked; retention runs again after the next one.
      log.warn({ err: error, reason: errorMessage(error) }, 'retention failed');
    }
  }
  return manifest;
}
