import { createHash } from 'node:crypto';
import { type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BackupManifest } from '@warden/catalog';
import { RestoreError, scrubSecrets } from '@warden/errors';
import { execa } from 'execa';
import { createIntegrityCheck } from '../pipeline/integrity-check.js';
import { type ConnectionParams, connectionSecrets, libpqEnv } from '../postgres/connection.js';
import type { TriggerSafety } from '../postgres/event-trigger-safety.js';
import { causeOf, storedBytesProblem, streamCheckProblem, streamFailureReason } from './download.js';
import { startParallelLoad } from './parallel-load.js';
import type { RestoreBackupOptions } from './restore-options.js';
import { DURABLE_END, restoreSessionEnv } from './restore-session.js';

/** `psql --version`; throws `RESTORE_PSQL_NOT_FOUND`. */
export async function checkPsql(psqlPath: string): Promise<string> {
  const result = await execa(psqlPath, ['--version'], { reject: false, timeout: 10_000, stdin: 'ignore' });
  const match = /\(PostgreSQL\)\s+(\S+)/.exec(String(result.stdout ?? ''));
  if (result.failed || !match?.[1]) {
    throw new RestoreError(
      'RESTORE_PSQL_NOT_FOUND',
      `psql not found or not working at "${psqlPath}"; install the PostgreSQL client tools or set PSQL_PATH`,
    );
  }
  return match[1];
}

/** Where psql's SQL comes from: the downloaded file, or the stored object read as psql is fed. */
export interface RestoreSource {
  open(): Promise<Readable>;
  /**
   * The bytes have not been checked yet: their size and SHA-256 are compared with the manifest's
   * once read whole, before psql is let finish (a restore test's scratch database is dropped
   * whatever happens, so it need not be downloaded and checked first).
   */
  unchecked: boolean;
  /** Turns a failure to read the source into the restore's error. */
  readFailure(error: unknown): RestoreError;
}

export interface PsqlEvents {
  /** Compressed bytes read and SQL bytes given to psql so far (at most 4 times a second). */
  onBytes: (bytes: number, sqlBytes: number) => void;
  /** The load committed every row of the dump's `ordinal`-th `COPY … FROM stdin` (from 0). */
  onCopyCommitted?: (ordinal: number) => void;
}

/**
 * The psql sessions of the load (parallel-load.ts) get the SQL decompressed by the integrity check,
 * which checks the stream again on the way. Each statement runs in its own transaction
 * (restore-session.ts says why), so what has been replayed is committed in the new database as it
 * goes: a stream that fails its check kills every session, this throws, and the caller drops the
 * new database, which is never swapped in. Only after the whole stream checked good, and every
 * COPY committed, does the main session get {@link DURABLE_END} and the end of its input. Throws
 * `RESTORE_INTEGRITY_FAILED` for a bad stream, `RESTORE_PSQL_FAILED` for a session's psql error.
 */
export async function runPsql(
  source: RestoreSource,
  manifest: BackupManifest,
  params: ConnectionParams,
  options: RestoreBackupOptions,
  psqlPath: string,
  triggerSafety: TriggerSafety,
  signal: AbortSignal,
  events: PsqlEvents,
): Promise<void> {
  const { onBytes } = events;
  const secrets = connectionSecrets(options.target.databaseUrl);
  const kill = new AbortController();
  const onAbort = () => kill.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  const load = startParallelLoad({
    psqlPath,
    env: restoreSessionEnv(libpqEnv(params, 'warden-restore'), triggerSafety),
    signal: kill.signal,
    ...(events.onCopyCommitted === undefined ? {} : { onCopyCommitted: events.onCopyCommitted }),
  });
  const psqlGone = load.failure.then((): never => {
    throw new Error('psql exited');
  });
  psqlGone.catch(() => undefined);

  let bytes = 0;
  let sqlBytes = 0;
  let lastReport = 0;
  const report = () => {
    const at = Date.now();
    if (at - lastReport < 250) return;
    lastReport = at;
    onBytes(bytes, sqlBytes);
  };
  const integrityCheck = createIntegrityCheck({
    compression: manifest.compression,
    // Size and SHA-256 are compared with the manifest's (before the load, or in this same pass).
    knownGoodBytes: true,
    signal: kill.signal,
    ...(manifest.encryption ? { encryptionKey: options.encryptionKey ?? '' } : {}),
    ...(options.zstdPath === undefined ? {} : { zstdPath: options.zstdPath }),
    onSqlBytes: (total) => {
      sqlBytes = total;
    },
    // Not `once(stdin, 'drain')`: it rejects on stdin's error, and the EPIPE of a psql that stopped
    // at an error would then fail the stream before psql's exit is seen, blaming the backup.
    forwardSql: (chunk) => Promise.race([load.write(chunk), psqlGone]),
  });
  const hash = source.unchecked ? createHash('sha256') : undefined;
  const checkInput = integrityCheck.input;
  // Bytes not checked before are read to the end even when the check gives up early: their size
  // and SHA-256 then name the damage more plainly than the stream's failure does.
  const feed = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      hash?.update(chunk);
      report();
      if (!checkInput.writable) {
        callback(hash === undefined ? new Error('the integrity check has ended') : null);
        return;
      }
      if (checkInput.write(chunk)) {
        callback();
        return;
      }
      const resume = () => {
        checkInput.off('drain', resume);
        checkInput.off('close', resume);
        callback();
      };
      checkInput.once('drain', resume);
      checkInput.once('close', resume);
    },
    final(callback) {
      checkInput.end();
      callback();
    },
  });
  let readFailure: RestoreError | undefined;
  let checkEnded = false;
  const reading = source
    .open()
    .then((stream) => pipeline(stream, feed, { signal: kill.signal }))
    .catch((error: unknown) => {
      // The check then fails for want of input: the reading is what to report.
      if (!kill.signal.aborted && !checkEnded) readFailure = source.readFailure(error);
      checkInput.destroy();
    });
  // The stream's problem when it is the reason psql was stopped.
  let streamProblem: { reason: string; cause?: unknown } | undefined;
  try {
    let checked = await integrityCheck.done.then(
      (result) => {
        const reason = streamCheckProblem(manifest, result);
        return reason === undefined ? undefined : { reason };
      },
      (error: unknown) => ({ reason: streamFailureReason(error), cause: causeOf(error) }),
    );
    // Had psql failed first, writing to it would have failed the check: psql's error is the one.
    const psqlFailedFirst = load.failed !== undefined;
    if (checked !== undefined) {
      checkEnded = true;
      checkInput.destroy();
      load.kill();
    }
    await reading;
    if (readFailure !== undefined) {
      load.kill();
      await load.main.exited;
      throw readFailure;
    }
    const stored = hash === undefined ? undefined : storedBytesProblem(manifest, bytes, hash.digest('hex'));
    if (stored !== undefined) checked = { reason: stored };
    if (checked === undefined) {
      // Every COPY committed, the data sessions ended: the main session ends the load.
      await load.finishData().catch(() => undefined);
      if (load.failed === undefined) load.main.end(DURABLE_END);
      else load.kill();
    } else if (!psqlFailedFirst || stored !== undefined) {
      // Damaged bytes are the cause whatever psql made of them.
      streamProblem = checked;
      load.kill();
    }
    await load.main.exited;
    const failedSession = load.failed ?? load.main;
    const result = await failedSession.exited;
    onBytes(bytes, sqlBytes);
    if (streamProblem) {
      throw new RestoreError(
        'RESTORE_INTEGRITY_FAILED',
        `backup ${manifest.filename} failed its integrity check: ${streamProblem.reason}`,
        { cause: streamProblem.cause },
      );
    }
    const detail = scrubSecrets(failedSession.stderr.text().trim(), secrets);
    if ((result as { code?: string }).code === 'ENOENT') {
      throw new RestoreError('RESTORE_PSQL_NOT_FOUND', `psql not found at "${psqlPath}"`);
    }
    if (result.failed || checked !== undefined) {
      const restrictHint = /invalid command \\restrict/.test(detail)
        ? ' (this dump was made by pg_dump 15.14+/16.10+/17.6+, which writes \\restrict lines: use a psql at least that new)'
        : '';
      const how =
        result.exitCode === undefined
          ? `was ended by ${result.signal ?? 'an error'}`
          : `exited with code ${result.exitCode}`;
      throw new RestoreError(
        'RESTORE_PSQL_FAILED',
        `psql ${how}${detail ? `: ${detail}` : ''}${restrictHint}`,
        // Exit 3 is an error in the script itself: the same dump fails the same way again.
        { permanent: result.exitCode === 3 },
      );
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    kill.abort();
  }
}
