import { BackupError, errorMessage, isBackupError, isWardenError } from '@warden/errors';
import type { BackupStorage } from '@warden/storage';
import type { SpooledBackup } from './dump-options.js';

/** How often and how far apart an integrity-checked dump's upload is tried (the dump itself never again). */
export interface UploadRetrySettings {
  /** Upload retries after the first attempt. */
  uploadRetryAttempts: number;
  /** Wait between upload attempts. */
  uploadRetryDelayMs: number;
}

/** What to do after a failed upload attempt: wait and try again, or give up. */
export type UploadStep =
  | { retryInMs: number }
  | { fail: 'not-an-upload-error' | 'permanent' | 'attempts-exhausted' | 'aborted' };

/** Upload failures are the ones a retry of the upload (without dumping again) can fix. */
export function isUploadError(error: unknown): error is BackupError {
  return isBackupError(error, 'UPLOAD_FAILED') || isBackupError(error, 'UPLOAD_VERIFY_FAILED');
}

/**
 * The one upload-retry policy, pure. `attempt` is the 1-based number of the attempt that just
 * failed. The CLI sleeps `retryInMs`; the worker moves the job to `delayed` for that long, so a
 * retry survives a worker restart and holds no worker slot while it waits.
 */
export function nextUploadStep(
  attempt: number,
  error: unknown,
  settings: UploadRetrySettings,
  aborted = false,
): UploadStep {
  if (!isUploadError(error)) return { fail: 'not-an-upload-error' };
  if (error.permanent) return { fail: 'permanent' };
  if (aborted) return { fail: 'aborted' };
  if (attempt >= 1 + Math.max(0, Math.floor(settings.uploadRetryAttempts)))
    return { fail: 'attempts-exhausted' };
  return { retryInMs: settings.uploadRetryDelayMs };
}

/**
 * A streamed upload (made while dumping) that failed, as the upload error of the first attempt;
 * `undefined` when there was none or it succeeded. A permanent storage error stays permanent.
 */
export function streamedUploadFailure(
  spooled: SpooledBackup,
  storage: Pick<BackupStorage, 'location'>,
): BackupError | undefined {
  const streamed = spooled.streamedUpload;
  if (!streamed || streamed.ok) return undefined;
  const cause = streamed.error;
  if (isUploadError(cause)) return cause;
  return new BackupError(
    'UPLOAD_FAILED',
    `upload of ${spooled.manifest.key} to ${storage.location} failed: ${errorMessage(cause)}; the integrity-checked dump is kept at ${spooled.spoolPath}`,
    { cause, spoolPath: spooled.spoolPath, permanent: isWardenError(cause) && cause.permanent },
  );
}
