import type {
  BackupErrorCode,
  EncryptionErrorCode,
  RestoreErrorCode,
  StorageErrorCode,
} from './error-codes.js';
import { WardenError, type WardenErrorOptions } from './warden-error.js';

/*
 * One class per family only narrows the code (and adds the one field a family carries), so
 * `instanceof` and `catch` stay precise; the shape is WardenError's.
 */

/** What a backup can fail with: its own codes, and a configured encryption key that is no key. */
export type BackupFailureCode = BackupErrorCode | 'ENCRYPTION_KEY_INVALID';

export interface BackupErrorOptions extends WardenErrorOptions {
  /** Upload failures: the integrity-checked spool file that was kept for another attempt. */
  spoolPath?: string;
}

/** A failure of taking a backup. */
export class BackupError extends WardenError<BackupFailureCode> {
  override name = 'BackupError';
  /** Set on `UPLOAD_FAILED`/`UPLOAD_VERIFY_FAILED`: the kept, integrity-checked spool file. */
  readonly spoolPath?: string;

  constructor(code: BackupFailureCode, message: string, options: BackupErrorOptions = {}) {
    super(code, message, options);
    if (options.spoolPath !== undefined) this.spoolPath = options.spoolPath;
  }
}

export function isBackupError(error: unknown, code?: BackupFailureCode): error is BackupError {
  return error instanceof BackupError && (code === undefined || error.code === code);
}

/** A failure of a restore or a restore test. */
export class RestoreError extends WardenError<RestoreErrorCode | EncryptionErrorCode> {
  override name = 'RestoreError';
  /** `RESTORE_CHECK_FAILED`: each difference between the restored database and the manifest. */
  readonly problems: readonly string[];

  constructor(
    code: RestoreErrorCode | EncryptionErrorCode,
    message: string,
    options: WardenErrorOptions & { problems?: readonly string[] } = {},
  ) {
    super(code, message, options);
    this.problems = options.problems ?? [];
  }
}

export function isRestoreError(
  error: unknown,
  code?: RestoreErrorCode | EncryptionErrorCode,
): error is RestoreError {
  return error instanceof RestoreError && (code === undefined || error.code === code);
}

/** A failure of the encryption stream; messages hold at most the public key id. */
export class EncryptionError extends WardenError<EncryptionErrorCode> {
  override name = 'EncryptionError';
}

export function isEncryptionError(error: unknown, code?: EncryptionErrorCode): error is EncryptionError {
  return error instanceof EncryptionError && (code === undefined || error.code === code);
}

/** A failure of the backup storage. */
export class StorageError extends WardenError<StorageErrorCode> {
  override name = 'StorageError';
}
