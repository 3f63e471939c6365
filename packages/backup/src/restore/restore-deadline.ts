import { RestoreError } from '@warden/errors';

/** A restore's one signal: the caller's abort or the restore timeout, whichever comes first. */
export interface RestoreDeadline {
  readonly signal: AbortSignal;
  /** `RESTORE_ABORTED`, saying whether the timeout or the caller stopped the restore. */
  abortError(): RestoreError;
  throwIfAborted(): void;
  /** What a failed step throws: the abort when the deadline caused the failure, else its own error. */
  orAbort(error: unknown): unknown;
}

export function createRestoreDeadline(
  targetName: string,
  timeoutMs: number,
  callerSignal: AbortSignal | undefined,
): RestoreDeadline {
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = callerSignal ? AbortSignal.any([callerSignal, timeout]) : timeout;
  const abortError = () =>
    new RestoreError(
      'RESTORE_ABORTED',
      timeout.aborted && !callerSignal?.aborted
        ? `restore of target "${targetName}" timed out after ${timeoutMs} ms`
        : `restore of target "${targetName}" was aborted`,
    );
  return {
    signal,
    abortError,
    throwIfAborted() {
      if (signal.aborted) throw abortError();
    },
    orAbort: (error) => (signal.aborted ? abortError() : error),
  };
}
