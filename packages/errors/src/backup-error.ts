export type BackupErrorCode =
  | 'PREFLIGHT_CONNECT_FAILED'
  | 'PG_DUMP_NOT_FOUND'
  | 'PG_DUMP_VERSION_MISMATCH'
  | 'INSUFFICIENT_SPACE'
  | 'PG_DUMP_FAILED'
  | 'COMPRESSION_FAILED'
  | 'INTEGRITY_CHECK_FAILED'
  | 'UPLOAD_FAILED'
  | 'UPLOAD_VERIFY_FAILED'
  | 'MANIFEST_INVALID'
  /** A job names a spooled dump the worker has no trustworthy record of, or the file changed since. */
  | 'SPOOL_RECORD_INVALID';

/** Codes that no retry can fix: the operator has to change something first. */
const PERMANENT_CODES: ReadonlySet<BackupErrorCode> = new Set([
  'PG_DUMP_NOT_FOUND',
  'PG_DUMP_VERSION_MISMATCH',
  'MANIFEST_INVALID',
  'SPOOL_RECORD_INVALID',
]);

export interface BackupErrorOptions {
  cause?: unknown;
  /** Overrides the code's default (`PG_DUMP_NOT_FOUND`, `PG_DUMP_VERSION_MISMATCH`, `MANIFEST_INVALID` and `SPOOL_RECORD_INVALID` are permanent). */
  permanent?: boolean;
  /** Upload failures: the verified spool file that was kept for another attempt. */
  spoolPath?: string;
}

/**
 * Every failure of the backup pipeline. Messages are written for operators and never contain the
 * database password or connection URL; `permanent` tells a job runner not to retry.
 */
export class BackupError extends Error {
  override readonly name = 'BackupError';
  readonly code: BackupErrorCode;
  readonly permanent: boolean;
  /** Set on `UPLOAD_FAILED`/`UPLOAD_VERIFY_FAILED`: the kept, verified spool file. */
  readonly spoolPath?: string;

  constructor(code: BackupErrorCode, message: string, options: BackupErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.permanent = options.permanent ?? PERMANENT_CODES.has(code);
    if (options.spoolPath !== undefined) this.spoolPath = options.spoolPath;
  }
}

export function isBackupError(error: unknown, code?: BackupErrorCode): error is BackupError {
  return error instanceof BackupError && (code === undefined || error.code === code);
}

/** Message of any thrown value; Node's AggregateError (IPv4 + IPv6 connect failures) has an empty one. */
export function errorMessage(error: unknown): string {
  if (error instanceof AggregateError && error.message === '') {
    return error.errors.map(errorMessage).join('; ');
  }
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
