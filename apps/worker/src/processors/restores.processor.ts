import { UnrecoverableError } from 'bullmq';

/** Restores are not implemented yet: the job fails clearly instead of pretending to work. */
export function createRestoreProcessor() {
  return async function processRestore(): Promise<unknown> {
    throw new UnrecoverableError(
      'RESTORE_NOT_IMPLEMENTED: restore jobs are not supported by this Warden version yet',
    );
  };
}
