import { BackupError, errorMessage } from '@warden/errors';
import type { CodecExit } from '../codecs/compression.js';
import { type ChildExit, describeExit } from '../streams/child-process.js';

/** How each stage of a dump ended, gathered once all of them settled. */
export interface DumpStageOutcomes {
  /** The spool file's own write error (disk full, I/O), if any. */
  spoolError: NodeJS.ErrnoException | undefined;
  compressor: { description: string; exit: CodecExit };
  /** Why the integrity check rejected the stream, if it did. */
  integrityCheckError: unknown;
  dump: ChildExit;
  /** The stream pipeline's error, if any. */
  streamError: unknown;
  /** A stage was stopped after another one failed. */
  stopped: boolean;
  partialPath: string;
  /** `: <pg_dump's stderr>`, scrubbed, or empty. */
  stderrSuffix: string;
}

/**
 * The one error a failed dump reports, most specific cause first; `undefined` when every stage
 * succeeded. A compressor never fails because pg_dump did (it just sees EOF), but pg_dump is killed
 * when the compressor dies, and both when the spool file cannot be written or the integrity check
 * rejects the stream (the compressor then dies of a broken pipe).
 */
export function failedStageError(stages: DumpStageOutcomes): BackupError | undefined {
  const { compressor, dump, integrityCheckError, partialPath, stderrSuffix } = stages;
  if (stages.spoolError) return spoolWriteError(stages.spoolError, partialPath);
  if (compressor.exit.failed && !(integrityCheckError !== undefined && compressor.exit.brokenPipe)) {
    return new BackupError(
      'COMPRESSION_FAILED',
      `${compressor.description} failed: ${compressor.exit.message}`,
    );
  }
  if (integrityCheckError !== undefined) return integrityError(integrityCheckError, partialPath);
  if (dump.failed) {
    if (dump.errorCode === 'ENOENT') {
      return new BackupError('PG_DUMP_NOT_FOUND', 'pg_dump disappeared between preflight and dump');
    }
    return new BackupError('PG_DUMP_FAILED', `pg_dump ${describeExit(dump)}${stderrSuffix}`);
  }
  if (stages.streamError !== undefined || stages.stopped) {
    return new BackupError(
      'PG_DUMP_FAILED',
      `dump stream failed: ${errorMessage(stages.streamError ?? 'a stage was stopped')}${stderrSuffix}`,
      { cause: stages.streamError },
    );
  }
  return undefined;
}

/** Errors the file stream raised itself, as opposed to an upstream error the pipeline forwarded to it. */
export function isOwnFsError(error: NodeJS.ErrnoException): boolean {
  return (
    typeof error.syscall === 'string' &&
    error.code !== 'EPIPE' &&
    !String(error.code ?? '').startsWith('ERR_')
  );
}

export function integrityError(error: unknown, partialPath: string): BackupError {
  if (error instanceof BackupError) {
    return new BackupError(
      'INTEGRITY_CHECK_FAILED',
      error.message.replace(/^integrity check failed/, `integrity check of ${partialPath} failed`),
      { cause: error.cause },
    );
  }
  return new BackupError(
    'INTEGRITY_CHECK_FAILED',
    `integrity check of ${partialPath} failed: ${errorMessage(error)}`,
    { cause: error },
  );
}

function spoolWriteError(error: NodeJS.ErrnoException, partialPath: string): BackupError {
  if (error.code === 'ENOSPC' || error.code === 'EDQUOT') {
    return new BackupError('INSUFFICIENT_SPACE', `spool file system full while writing ${partialPath}`, {
      cause: error,
    });
  }
  return new BackupError(
    'SPOOL_WRITE_FAILED',
    `cannot write the compressed dump to ${partialPath}: ${errorMessage(error)}`,
    { cause: error },
  );
}
