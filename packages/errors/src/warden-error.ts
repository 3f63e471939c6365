import { ERROR_CODES, type ErrorCode } from './error-codes.js';

export interface WardenErrorOptions {
  cause?: unknown;
  /** Overrides the code's default from `ERROR_CODES`. */
  permanent?: boolean;
}

/**
 * The one error shape of Warden: a stable `code` from `ERROR_CODES` and `permanent`, which tells a
 * job runner not to retry. Messages are written for operators and never hold a secret.
 */
export class WardenError<Code extends ErrorCode = ErrorCode> extends Error {
  override name: string = 'WardenError';
  readonly code: Code;
  readonly permanent: boolean;

  constructor(code: Code, message: string, options: WardenErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.permanent = options.permanent ?? ERROR_CODES[code].permanent;
  }
}

export function isWardenError(error: unknown, code?: ErrorCode): error is WardenError {
  return error instanceof WardenError && (code === undefined || error.code === code);
}
