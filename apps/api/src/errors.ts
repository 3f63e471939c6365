/**
 * Errors the admin API answers with. Every HTTP error body has the same shape,
 * `{ "error": { "code": ..., "message": ... } }`, so clients branch on a stable `code` and show the
 * plain `message`; neither ever carries a stack trace or a secret.
 */
export const API_ERROR_CODES = {
  validationFailed: 'VALIDATION_FAILED',
  invalidBody: 'INVALID_BODY',
  bodyTooLarge: 'BODY_TOO_LARGE',
  unsupportedMediaType: 'UNSUPPORTED_MEDIA_TYPE',
  unauthorized: 'UNAUTHORIZED',
  forbidden: 'FORBIDDEN',
  notFound: 'NOT_FOUND',
  targetNotFound: 'TARGET_NOT_FOUND',
  targetRequired: 'TARGET_REQUIRED',
  jobNotFound: 'JOB_NOT_FOUND',
  jobIdAmbiguous: 'JOB_ID_AMBIGUOUS',
  restoreAlreadyQueued: 'RESTORE_ALREADY_QUEUED',
  backupNotFound: 'BACKUP_NOT_FOUND',
  overwriteRequired: 'OVERWRITE_REQUIRED',
  rateLimited: 'RATE_LIMITED',
  metricsDisabled: 'METRICS_DISABLED',
  serviceUnavailable: 'SERVICE_UNAVAILABLE',
  internal: 'INTERNAL_ERROR',
} as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[keyof typeof API_ERROR_CODES];

/** Extra, non-secret fields shown beside `code` and `message` (e.g. the known targets). */
export type ApiErrorDetails = Record<string, unknown>;

export interface ApiErrorBody {
  error: { code: string; message: string } & ApiErrorDetails;
}

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly statusCode: number,
    readonly code: ApiErrorCode,
    message: string,
    readonly details: ApiErrorDetails = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  toBody(): ApiErrorBody {
    return errorBody(this.code, this.message, this.details);
  }
}

export function errorBody(code: string, message: string, details: ApiErrorDetails = {}): ApiErrorBody {
  return { error: { ...details, code, message } };
}

/** Thrown by `main.ts` checks that refuse to start (exit code 2, like a configuration error). */
export class StartupError extends Error {
  override readonly name = 'StartupError';
  readonly code = 'WARDEN_API_STARTUP_REFUSED';
}
