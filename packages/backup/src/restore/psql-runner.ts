import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { Transform, Writable } from 'node:stream';
import type { BackupManifest } from '@warden/catalog';
import { errorMessage, RestoreError, scrubSecrets } from '@warden/errors';
import { execa } from 'execa';
import { createDecompressor, pipeThroughCodec } from '../codecs/compression.js';
import { createDecryptStream } from '../codecs/encryption.js';
import { type ConnectionParams, connectionSecrets, libpqEnv } from '../postgres/connection.js';
import { withPgOptions } from '../postgres/event-trigger-safety.js';
import { createTailBuffer, STDERR_TAIL_BYTES } from '../streams/tail-buffer.js';
import type { RestoreBackupOptions } from './restore-options.js';

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

/**
 * psql reads the SQL from stdin. Its stdin is only ever closed on success: psql with
 * `--single-transaction` COMMITs at end of input, so after a failed stream psql is killed first and
 * the server rolls the transaction back.
 */
export async function runPsql(
  localPath: string,
  manifest: BackupManifest,
  params: ConnectionParams,
  options: RestoreBackupOptions,
  psqlPath: string,
  pgOptions: string | undefined,
  signal: AbortSignal,
  onBytes: (bytes: number, sqlBytes: number) => void,
): Promise<void> {
  const secrets = connectionSecrets(options.target.databaseUrl);
  const kill = new AbortController();
  const onAbort = () => kill.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  // Connection settings, database included, travel in libpq's environment: argv is visible to every
  // local user, and a `-d` value containing "=" would be read as a connection string.
  const psql = execa(
    psqlPath,
    ['-X', '-q', '--no-password', '-v', 'ON_ERROR_STOP=1', '--single-transaction'],
    {
      env: withPgOptions(libpqEnv(params, 'warden-restore'), pgOptions),
      buffer: false,
      stdin: 'pipe',
      // The dump's `SELECT set_config(...)` lines print result tables nobody needs.
      stdout: 'ignore',
      stderr: 'pipe',
      reject: false,
      cancelSignal: kill.signal,
    },
  );
  const stderr = createTailBuffer(STDERR_TAIL_BYTES);
  psql.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  const stdin = psql.stdin;
  let pending: ((error?: Error | null) => void) | undefined;
  let stdinError: Error | undefined;
  stdin.on('error', (error: Error) => {
    stdinError ??= error;
    pending?.(error);
    pending = undefined;
  });
  stdin.on('drain', () => {
    pending?.();
    pending = undefined;
  });
  const exited = psql.then((result) => {
    pending?.(new Error('psql exited'));
    pending = undefined;
    return result;
  });
  const toPsql = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (stdinError) return callback(stdinError);
      if (stdin.write(chunk)) callback();
      else pending = callback;
    },
    final(callback) {
      stdin.end();
      // 'finish' when psql took everything; an early exit or a pipe error must not leave this hanging.
      Promise.race([once(stdin, 'finish'), exited]).then(
        () => callback(),
        (error: Error) => callback(error),
      );
    },
    destroy(error, callback) {
      if (error) {
        psql.kill('SIGKILL');
        stdin.destroy();
      }
      callback(error);
    },
  });

  let bytes = 0;
  let sqlBytes = 0;
  let lastReport = 0;
  const report = () => {
    const at = Date.now();
    if (at - lastReport < 250) return;
    lastReport = at;
    onBytes(bytes, sqlBytes);
  };
  const storedCounter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      report();
      callback(null, chunk);
    },
  });
  const sqlCounter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      sqlBytes += chunk.length;
      callback(null, chunk);
    },
  });
  const source: (NodeJS.ReadableStream | NodeJS.ReadWriteStream)[] = [
    createReadStream(localPath),
    storedCounter,
  ];
  if (manifest.encryption) source.push(createDecryptStream(options.encryptionKey ?? ''));
  const decompressor = createDecompressor(manifest.compression, kill.signal, options.zstdPath);
  let streamError: unknown;
  try {
    await pipeThroughCodec(source, decompressor, [sqlCounter, toPsql], kill.signal).catch(
      (error: unknown) => {
        streamError = error;
        psql.kill('SIGKILL');
      },
    );
    const result = await exited;
    onBytes(bytes, sqlBytes);
    const detail = scrubSecrets(stderr.text().trim(), secrets);
    if ((result as { code?: string }).code === 'ENOENT') {
      throw new RestoreError('RESTORE_PSQL_NOT_FOUND', `psql not found at "${psqlPath}"`);
    }
    if (result.failed || streamError !== undefined) {
      const restrictHint = /invalid command \\restrict/.test(detail)
        ? ' (this dump was made by pg_dump 15.14+/16.10+/17.6+, which writes \\restrict lines: use a psql at least that new)'
        : '';
      if (streamError !== undefined && !result.failed) {
        throw new RestoreError(
          'RESTORE_PSQL_FAILED',
          `feeding the SQL to psql failed: ${errorMessage(streamError)}`,
          {
            cause: streamError,
          },
        );
      }
      const how =
        result.exitCode === undefined
          ? `was ended by ${result.signal ?? 'an error'}`
          : `exited with code ${result.exitCode}`;
      throw new RestoreError(
        'RESTORE_PSQL_FAILED',
        `psql ${how}; the transaction was rolled back${detail ? `: ${detail}` : ''}${restrictHint}`,
        // Exit 3 is an error in the script itself: the same dump fails the same way again.
        { permanent: result.exitCode === 3 },
      );
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    kill.abort();
  }
}
