import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  type BackupManifest,
  formatBackupTimestamp,
  latestGoodBackup,
  readManifest,
  SAFETY_COPY_TRIGGER,
} from '@warden/catalog';
import {
  BackupError,
  errorMessage,
  RestoreError,
  StorageError,
  scrubError,
  scrubSecrets,
} from '@warden/errors';
import type { Logger } from '@warden/logging';
import { databaseNameProblem, MAX_IDENTIFIER_BYTES, pgClientConfig, truncateUtf8 } from '@warden/names';
import type { BackupStorage } from '@warden/storage';
import { execa } from 'execa';
import pg from 'pg';
import { createDecompressor, pipeThroughCodec } from './compression.js';
import {
  type ConnectionParams,
  connectionSecrets,
  describeConnection,
  libpqEnv,
  parseDatabaseUrl,
  quoteIdent,
} from './connection.js';
import { checkRestoredContent } from './content-proof.js';
import { createDecryptStream, keyIdOf } from './encryption.js';
import { EventTriggerRestoreError, planTriggerSafety, withPgOptions } from './event-trigger-safety.js';
import { checkSpoolSpace } from './preflight.js';
import { compareWithManifest, type RestoreCheck } from './restore-check.js';
import { type RunBackupOptions, runBackup } from './run-backup.js';
import { openDumpSnapshot, type SnapshotCounts } from './snapshot.js';
import { createTailBuffer, STDERR_TAIL_BYTES } from './tail-buffer.js';
import type { BackupTargetSpec } from './target.js';
import { verifyBackupFile } from './verify.js';

/** Never restored into: the cluster's own databases (and where the restore itself connects). */
const PROTECTED_DATABASES = new Set(['postgres', 'template0', 'template1']);

export function assertRestorableDatabaseName(name: string, maintenanceDatabase = 'postgres'): void {
  const problem = databaseNameProblem(name);
  if (problem !== undefined) {
    throw new RestoreError(
      'RESTORE_INVALID_DATABASE',
      `invalid database name "${name.slice(0, 80)}": ${problem}`,
    );
  }
  if (PROTECTED_DATABASES.has(name) || name === maintenanceDatabase) {
    throw new RestoreError(
      'RESTORE_INVALID_DATABASE',
      `refusing to restore into the system database "${name}"`,
    );
  }
}

/** `<database>_<label>_<YYYYMMDD_HHMMSS>`, the database part shortened to stay within 63 bytes. */
export function restoreDatabaseName(database: string, at: Date, label = 'restore'): string {
  const suffix = `_${label}_${formatBackupTimestamp(at)}`;
  return `${truncateUtf8(database, MAX_IDENTIFIER_BYTES - suffix.length)}${suffix}`;
}

/** The same connection URL pointing at another database of the server. */
export function databaseUrlFor(url: string, database: string): string {
  const parsed = new URL(url);
  // Read back by databaseNameOfUrl (decodeURIComponent), for libpq and the pg client alike.
  parsed.pathname = `/${encodeURIComponent(database)}`;
  parsed.searchParams.delete('dbname');
  return parsed.toString();
}

export interface RestoreProgress {
  phase: 'prepare' | 'download' | 'verify' | 'safety-backup' | 'restore' | 'check' | 'swap' | 'done';
  /** 0-100 over the whole restore. */
  percent: number;
  /** Phase `restore`: stored (compressed) bytes fed to psql so far; download/verify: bytes read. */
  bytes: number;
  /** Stored size of the backup. */
  totalBytes: number;
  /** Phase `restore`: SQL bytes fed to psql so far. */
  sqlBytes?: number;
}

/** How the safety backup of a database about to be replaced is taken (the backup pipeline's settings). */
export type SafetyBackupSettings = Omit<
  RunBackupOptions,
  'target' | 'retention' | 'trigger' | 'jobId' | 'signal' | 'onProgress' | 'onRetention' | 'now'
>;

export interface RestoreBackupOptions {
  /** The target the backup belongs to; its server is where the restore goes. */
  target: BackupTargetSpec;
  /** A backup file name of the target, or `latest` for its newest good backup. */
  file: string;
  /** Database to restore into. @defaultValue a new `<database>_restore_<YYYYMMDD_HHMMSS>` */
  database?: string;
  /** Allow replacing an existing database (after a safety backup of it). @defaultValue false */
  overwrite?: boolean;
  /** Download, verify and plan only; nothing is written to any database. @defaultValue false */
  dryRun?: boolean;
  /** Where the backup is downloaded and verified before anything else happens. */
  spoolDir: string;
  /** Free space required in `spoolDir` besides the backup itself. @defaultValue 0 */
  minFreeBytes?: number;
  /** @defaultValue 'psql' */
  psqlPath?: string;
  /** @defaultValue 'zstd' */
  zstdPath?: string;
  /** Database the restore connects to for CREATE/DROP/RENAME DATABASE. @defaultValue 'postgres' */
  maintenanceDatabase?: string;
  /** 64 hex characters; needed for encrypted backups. */
  encryptionKey?: string;
  /** Required to replace an existing database: how to back it up first. */
  safetyBackup?: SafetyBackupSettings;
  /** Drop the restored database once checked (restore tests). @defaultValue false */
  discard?: boolean;
  /** Middle part of a generated database name. @defaultValue 'restore' */
  newDatabaseLabel?: string;
  /** Limit for the whole restore. @defaultValue 6 hours */
  timeoutMs?: number;
  jobId?: string;
  /** @defaultValue () => new Date() */
  now?: () => Date;
  onProgress?: (progress: RestoreProgress) => void;
  signal?: AbortSignal;
}

export interface RestoreResult {
  /** `dry-run`: the backup was verified and the plan checked; nothing was written. */
  status: 'success' | 'dry-run';
  target: string;
  file: string;
  key: string;
  sha256: string;
  bytes: number;
  sql_bytes: number;
  database: string;
  /** `create`: a new database; `replace`: an existing one was replaced after a safety backup. */
  action: 'create' | 'replace';
  dryRun: boolean;
  /** The restored database was dropped after the check (restore tests). */
  discarded: boolean;
  /** File name of the safety backup taken of the replaced database. */
  safety_backup?: string;
  check?: RestoreCheck;
  started_at: string;
  finished_at: string;
  duration_ms: number;
}

/** The restore's dependencies; the storage is left open. */
export interface RestoreDeps {
  storage: BackupStorage;
  logger: Logger;
}

const DEFAULT_TIMEOUT_MS = 6 * 60 * 60 * 1000;

/** The manifest of `file` (or the latest good backup); throws `RESTORE_BACKUP_NOT_FOUND`. */
export async function resolveBackup(
  storage: BackupStorage,
  target: Pick<BackupTargetSpec, 'name' | 'database'>,
  file: string,
): Promise<BackupManifest> {
  if (file === 'latest') {
    const latest = await latestGoodBackup(storage, { name: target.name, database: target.database });
    if (!latest) {
      throw new RestoreError(
        'RESTORE_BACKUP_NOT_FOUND',
        `target "${target.name}" has no good backup of database "${target.database}" to restore`,
      );
    }
    return latest;
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,250}$/.test(file) || file.includes('..')) {
    throw new RestoreError('RESTORE_BACKUP_NOT_FOUND', `"${file.slice(0, 80)}" is not a backup file name`);
  }
  let manifest: BackupManifest | undefined;
  try {
    manifest = await readManifest(storage, target.name, file);
  } catch (error) {
    if (error instanceof BackupError) {
      throw new RestoreError(
        'RESTORE_INTEGRITY_FAILED',
        `the manifest of ${file} is unusable: ${error.message}`,
        {
          cause: error,
        },
      );
    }
    throw new RestoreError(
      'RESTORE_DOWNLOAD_FAILED',
      `reading the manifest of ${file} failed: ${errorMessage(error)}`,
      {
        cause: error,
      },
    );
  }
  if (!manifest) {
    throw new RestoreError(
      'RESTORE_BACKUP_NOT_FOUND',
      `backup "${file}" of target "${target.name}" not found (no manifest, so not a verified backup)`,
    );
  }
  return manifest;
}

/** A pg client on the maintenance database; SQL errors come back scrubbed of the connection's secrets. */
async function withMaintenanceClient<T>(
  url: string,
  where: string,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const secrets = connectionSecrets(url);
  const client = new pg.Client({
    ...pgClientConfig(url),
    connectionTimeoutMillis: 10_000,
    application_name: 'warden-restore',
  });
  // A dropped idle connection surfaces through the next query; unhandled it would kill the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    const sqlstate = (error as { code?: string }).code;
    throw new RestoreError(
      'RESTORE_CONNECT_FAILED',
      `cannot connect to ${where}: ${scrubSecrets(errorMessage(error), secrets)}`,
      {
        cause: scrubError(error, secrets),
        permanent: sqlstate === '28000' || sqlstate === '28P01' || sqlstate === '3D000',
      },
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function databaseExists(client: pg.Client, name: string): Promise<boolean> {
  const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  return (rowCount ?? 0) > 0;
}

async function dropDatabase(client: pg.Client, name: string): Promise<void> {
  await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
}

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
 * Restores a backup (SPEC B9/B10). Order matters for safety:
 * 1. resolve the backup and the database to write, refuse an existing one without `overwrite`;
 * 2. download it and verify size, SHA-256, the whole stream and the completion trailer — before any
 *    SQL runs, so a corrupt backup leaves every database untouched;
 * 3. (dry run stops here)
 * 4. for `overwrite` of an existing database, take a safety backup of it first;
 * 5. restore into a *new* database with `psql -v ON_ERROR_STOP=1 --single-transaction`;
 * 6. compare its schema objects and row counts with the manifest;
 * 7. for `overwrite`, swap the new database in under the old name (one transaction) and drop the old.
 * A new database is dropped again on any failure; an existing one is never touched before step 7.
 */
export async function restoreBackup(
  deps: RestoreDeps,
  options: RestoreBackupOptions,
): Promise<RestoreResult> {
  const { storage } = deps;
  const { target } = options;
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  const maintenanceDatabase = options.maintenanceDatabase ?? 'postgres';
  const psqlPath = options.psqlPath ?? 'psql';
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const log = deps.logger.child({ target: target.name, ...(options.jobId ? { jobId: options.jobId } : {}) });
  const secrets = connectionSecrets(target.databaseUrl);
  let server: ConnectionParams;
  try {
    server = parseDatabaseUrl(target.databaseUrl);
  } catch (error) {
    throw new RestoreError('RESTORE_CONNECT_FAILED', `target "${target.name}": ${errorMessage(error)}`, {
      permanent: true,
    });
  }
  const maintenanceUrl = databaseUrlFor(target.databaseUrl, maintenanceDatabase);
  const where = `${describeConnection({ ...server, database: maintenanceDatabase })} of target "${target.name}"`;
  const abortError = () =>
    new RestoreError(
      'RESTORE_ABORTED',
      timeout.aborted && !options.signal?.aborted
        ? `restore of target "${target.name}" timed out after ${timeoutMs} ms`
        : `restore of target "${target.name}" was aborted`,
    );
  const throwIfAborted = () => {
    if (signal.aborted) throw abortError();
  };
  let lastPercent = -1;
  const progress = (update: RestoreProgress) => {
    if (update.percent === lastPercent && update.phase !== 'restore') return;
    lastPercent = update.percent;
    options.onProgress?.(update);
  };

  if (options.database !== undefined) assertRestorableDatabaseName(options.database, maintenanceDatabase);
  if (options.discard && options.overwrite) {
    throw new RestoreError(
      'RESTORE_INVALID_DATABASE',
      'a discarded (test) restore never replaces a database',
    );
  }
  const manifest = await resolveBackup(storage, target, options.file);
  const totalBytes = manifest.bytes;
  progress({ phase: 'prepare', percent: 0, bytes: 0, totalBytes });
  if (manifest.encryption && options.encryptionKey === undefined) {
    throw new RestoreError(
      'ENCRYPTION_KEY_MISSING',
      `backup ${manifest.filename} is encrypted (key ${manifest.encryption.keyId}); set BACKUP_ENCRYPTION_KEY to the key it was made with`,
    );
  }
  if (manifest.encryption && options.encryptionKey !== undefined) {
    const keyId = keyIdOf(options.encryptionKey);
    if (keyId !== manifest.encryption.keyId) {
      throw new RestoreError(
        'ENCRYPTION_KEY_MISMATCH',
        `backup ${manifest.filename} was encrypted with key ${manifest.encryption.keyId}, the configured key is ${keyId}`,
      );
    }
  }
  const psqlVersion = await checkPsql(psqlPath);

  // Decide where the restore goes before downloading anything: an existing database without
  // `overwrite` is refused at once.
  const plan = await withMaintenanceClient(maintenanceUrl, where, async (client) => {
    if (options.database !== undefined) {
      const exists = await databaseExists(client, options.database);
      if (exists && !options.overwrite) {
        throw new RestoreError(
          'RESTORE_DATABASE_EXISTS',
          `database "${options.database}" already exists; restoring into it needs the overwrite flag (--overwrite, "overwrite": true), which first takes a safety backup of it`,
        );
      }
      return { database: options.database, action: exists ? ('replace' as const) : ('create' as const) };
    }
    return {
      database: await freeDatabaseName(client, target.database, startedAt, options.newDatabaseLabel),
      action: 'create' as const,
    };
  });
  log.info(
    {
      file: manifest.filename,
      database: plan.database,
      action: plan.action,
      dryRun: options.dryRun ?? false,
      psqlVersion,
    },
    'restore planned',
  );
  const triggerSafety = await withMaintenanceClient(maintenanceUrl, where, (client) =>
    planTriggerSafety(client, manifest),
  ).catch((error: unknown) => {
    if (error instanceof EventTriggerRestoreError) {
      throw new RestoreError(
        'RESTORE_EVENT_TRIGGERS',
        `cannot restore ${manifest.filename}: ${error.message}`,
      );
    }
    throw error;
  });

  const localPath = join(
    options.spoolDir,
    `restore-${randomBytes(6).toString('hex')}-${target.name}.${manifest.filename}`,
  );
  let createdDatabase: string | undefined;
  try {
    throwIfAborted();
    await downloadBackup(storage, manifest, localPath, options, signal, (bytes) =>
      progress({
        phase: 'download',
        percent: Math.floor((bytes / Math.max(1, totalBytes)) * 20),
        bytes,
        totalBytes,
      }),
    ).catch((error: unknown) => {
      throw signal.aborted ? abortError() : error;
    });
    await verifyDownloaded(localPath, manifest, options, signal, (bytes) =>
      progress({
        phase: 'verify',
        percent: 20 + Math.floor((bytes / Math.max(1, totalBytes)) * 10),
        bytes,
        totalBytes,
      }),
    ).catch((error: unknown) => {
      throw signal.aborted ? abortError() : error;
    });
    log.info({ file: manifest.filename, sha256: manifest.sha256 }, 'backup downloaded and verified');

    const base = {
      target: target.name,
      file: manifest.filename,
      key: manifest.key,
      sha256: manifest.sha256,
      bytes: manifest.bytes,
      sql_bytes: manifest.sql_bytes,
      database: plan.database,
      action: plan.action,
      dryRun: options.dryRun ?? false,
      discarded: false,
    };
    if (options.dryRun) {
      const finishedAt = now();
      progress({ phase: 'done', percent: 100, bytes: totalBytes, totalBytes });
      return {
        status: 'dry-run',
        ...base,
        started_at: startedAt.toISOString(),
        finished_at: finishedAt.toISOString(),
        duration_ms: finishedAt.getTime() - startedAt.getTime(),
      };
    }

    let safetyBackup: string | undefined;
    if (plan.action === 'replace') {
      progress({ phase: 'safety-backup', percent: 30, bytes: 0, totalBytes });
      safetyBackup = await takeSafetyBackup(deps, options, plan.database, signal);
      log.info({ database: plan.database, safetyBackup }, 'safety backup of the database to replace stored');
    }
    throwIfAborted();

    // A replace restores into a fresh database too; the existing one is only swapped out at the end.
    const restoreInto =
      plan.action === 'replace'
        ? await withMaintenanceClient(maintenanceUrl, where, (client) =>
            freeDatabaseName(client, plan.database, now(), 'incoming'),
          )
        : plan.database;
    const owner = await withMaintenanceClient(maintenanceUrl, where, async (client) => {
      // Replacing keeps the database's owner; a new database belongs to the restoring role.
      let ownerName: string | undefined;
      if (plan.action === 'replace') {
        const { rows } = await client.query<{ owner: string }>(
          'SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1',
          [plan.database],
        );
        ownerName = rows[0]?.owner;
      }
      // template0: a dump restores into a pristine database, not one carrying template1's extras.
      await client.query(
        `CREATE DATABASE ${quoteIdent(restoreInto)} TEMPLATE template0${ownerName ? ` OWNER ${quoteIdent(ownerName)}` : ''}`,
      );
      createdDatabase = restoreInto;
      return ownerName;
    }).catch((error: unknown) => {
      if (error instanceof RestoreError) throw error;
      throw new RestoreError(
        'RESTORE_CONNECT_FAILED',
        `creating database "${restoreInto}" failed: ${scrubSecrets(errorMessage(error), secrets)}`,
        { cause: scrubError(error, secrets) },
      );
    });
    log.info({ database: restoreInto, owner }, 'database created; restoring');

    await runPsql(
      localPath,
      manifest,
      { ...server, database: restoreInto },
      options,
      psqlPath,
      triggerSafety.pgOptions,
      signal,
      (bytes, sqlBytes) =>
        progress({
          phase: 'restore',
          percent: 30 + Math.floor((bytes / Math.max(1, totalBytes)) * 60),
          bytes,
          totalBytes,
          sqlBytes,
        }),
    ).catch((error: unknown) => {
      throw signal.aborted ? abortError() : error;
    });
    throwIfAborted();

    progress({ phase: 'check', percent: 92, bytes: totalBytes, totalBytes });
    const restoredUrl = databaseUrlFor(target.databaseUrl, restoreInto);
    const restoredCounts = await inspectDatabase(restoredUrl, secrets);
    const { problems, check } = compareWithManifest(manifest, restoredCounts);
    // Counts first (cheap); the content is read back only when they agree.
    if (problems.length === 0) {
      const content = await checkRestoredContent({
        manifest,
        url: restoredUrl,
        params: { ...server, database: restoreInto },
        database: restoreInto,
        psqlPath,
        signal,
      }).catch((error: unknown) => {
        throw signal.aborted
          ? abortError()
          : new RestoreError(
              'RESTORE_CONNECT_FAILED',
              `checking the restored content failed: ${scrubSecrets(errorMessage(error), secrets)}`,
              { cause: scrubError(error, secrets) },
            );
      });
      problems.push(...content.problems);
      Object.assign(check, content.check);
    }
    if (problems.length > 0) {
      throw new RestoreError(
        'RESTORE_CHECK_FAILED',
        `the restored database differs from backup ${manifest.filename}: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? `; … ${problems.length - 5} more` : ''}`,
        { problems },
      );
    }
    log.info(
      {
        database: restoreInto,
        tables: check.tables,
        rows: check.rows,
        content: check.content,
        note: check.contentNote,
      },
      'restored database checked',
    );

    if (plan.action === 'replace') {
      progress({ phase: 'swap', percent: 96, bytes: totalBytes, totalBytes });
      await swapDatabases(maintenanceUrl, where, plan.database, restoreInto, now(), log, secrets);
      createdDatabase = undefined;
    }
    let discarded = false;
    if (options.discard) {
      await withMaintenanceClient(maintenanceUrl, where, (client) => dropDatabase(client, restoreInto));
      createdDatabase = undefined;
      discarded = true;
    }
    createdDatabase = undefined;
    const finishedAt = now();
    progress({ phase: 'done', percent: 100, bytes: totalBytes, totalBytes });
    return {
      status: 'success',
      ...base,
      discarded,
      ...(safetyBackup ? { safety_backup: safetyBackup } : {}),
      check,
      started_at: startedAt.toISOString(),
      finished_at: finishedAt.toISOString(),
      duration_ms: finishedAt.getTime() - startedAt.getTime(),
    };
  } catch (error) {
    if (createdDatabase !== undefined) {
      const leftover = createdDatabase;
      await withMaintenanceClient(maintenanceUrl, where, (client) => dropDatabase(client, leftover)).then(
        () => log.info({ database: leftover }, 'half-restored database dropped'),
        (dropError: unknown) =>
          log.error(
            { err: scrubError(dropError, secrets), database: leftover },
            'dropping the half-restored database failed; drop it by hand',
          ),
      );
    }
    throw error;
  } finally {
    await rm(localPath, { force: true }).catch(() => undefined);
  }
}

/** The default name, or with `_2` … `_99` appended when a restore of the same second already took it. */
async function freeDatabaseName(
  client: pg.Client,
  database: string,
  at: Date,
  label = 'restore',
): Promise<string> {
  const base = restoreDatabaseName(database, at, label);
  for (let attempt = 1; attempt < 100; attempt++) {
    const suffix = attempt === 1 ? '' : `_${attempt}`;
    const candidate = `${truncateUtf8(base, MAX_IDENTIFIER_BYTES - suffix.length)}${suffix}`;
    if (!(await databaseExists(client, candidate))) return candidate;
  }
  throw new RestoreError('RESTORE_INVALID_DATABASE', `no free database name like "${base}"`);
}

async function downloadBackup(
  storage: BackupStorage,
  manifest: BackupManifest,
  localPath: string,
  options: RestoreBackupOptions,
  signal: AbortSignal,
  onBytes: (bytes: number) => void,
): Promise<void> {
  try {
    await checkSpoolSpace(options.spoolDir, (options.minFreeBytes ?? 0) + manifest.bytes);
  } catch (error) {
    throw new RestoreError(
      'RESTORE_INSUFFICIENT_SPACE',
      `cannot download ${manifest.filename} (${manifest.bytes} bytes): ${errorMessage(error)}`,
      { cause: error },
    );
  }
  let bytes = 0;
  const hash = createHash('sha256');
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      hash.update(chunk);
      onBytes(bytes);
      callback(null, chunk);
    },
  });
  try {
    const body = await storage.read(manifest.key);
    // 0600: the dump holds the whole database.
    await pipeline(body, counter, createWriteStream(localPath, { flags: 'wx', mode: 0o600 }), { signal });
  } catch (error) {
    if (error instanceof StorageError && error.code === 'STORAGE_NOT_FOUND') {
      throw new RestoreError(
        'RESTORE_BACKUP_NOT_FOUND',
        `backup ${manifest.key} has a manifest but its dump is missing from ${storage.location}`,
        { cause: error },
      );
    }
    throw new RestoreError(
      'RESTORE_DOWNLOAD_FAILED',
      `downloading ${manifest.key} from ${storage.location} failed: ${errorMessage(error)}`,
      { cause: error },
    );
  }
  // The cheap checks first, with the plainest message: what arrived is not what was stored.
  const fail = (reason: string): never => {
    throw new RestoreError(
      'RESTORE_INTEGRITY_FAILED',
      `backup ${manifest.filename} failed verification: ${reason}`,
    );
  };
  if (bytes !== manifest.bytes) fail(`${bytes} bytes downloaded, the manifest records ${manifest.bytes}`);
  const sha256 = hash.digest('hex');
  if (sha256 !== manifest.sha256) fail(`SHA-256 ${sha256} differs from the manifest's ${manifest.sha256}`);
}

/** Size, SHA-256, a whole (decrypted and) decompressed stream and pg_dump's trailer, as at backup time. */
async function verifyDownloaded(
  localPath: string,
  manifest: BackupManifest,
  options: RestoreBackupOptions,
  signal: AbortSignal,
  onBytes: (bytes: number) => void,
): Promise<void> {
  const fail = (reason: string, cause?: unknown): never => {
    throw new RestoreError(
      'RESTORE_INTEGRITY_FAILED',
      `backup ${manifest.filename} failed verification: ${reason}`,
      {
        cause,
      },
    );
  };
  const size = (await stat(localPath)).size;
  if (size !== manifest.bytes) fail(`${size} bytes downloaded, the manifest records ${manifest.bytes}`);
  const verified = await verifyBackupFile(localPath, {
    compression: manifest.compression,
    expectedSha256: manifest.sha256,
    signal,
    onProgress: onBytes,
    ...(manifest.encryption && options.encryptionKey !== undefined
      ? { encryptionKey: options.encryptionKey }
      : {}),
    ...(options.zstdPath === undefined ? {} : { zstdPath: options.zstdPath }),
  }).catch((error: unknown) =>
    fail(errorMessage(error).replace(/^integrity check of \S+ failed: /, ''), error),
  );
  const sqlBytes = verified.sqlBytes;
  if (sqlBytes !== manifest.sql_bytes) {
    fail(`it decompresses to ${sqlBytes} bytes of SQL, the manifest records ${manifest.sql_bytes}`);
  }
}

async function takeSafetyBackup(
  deps: RestoreDeps,
  options: RestoreBackupOptions,
  database: string,
  signal: AbortSignal,
): Promise<string> {
  if (!options.safetyBackup) {
    throw new RestoreError(
      'RESTORE_SAFETY_BACKUP_FAILED',
      `replacing database "${database}" needs a safety backup of it first, and no backup settings were given`,
      { permanent: true },
    );
  }
  const { target } = options;
  try {
    const manifest = await runBackup(deps, {
      ...options.safetyBackup,
      target: { ...target, database, databaseUrl: databaseUrlFor(target.databaseUrl, database) },
      // Retention must not run because of a backup that only exists to undo this restore.
      retention: false,
      trigger: SAFETY_COPY_TRIGGER,
      signal,
      ...(options.jobId ? { jobId: options.jobId } : {}),
    });
    return manifest.filename;
  } catch (error) {
    throw new RestoreError(
      'RESTORE_SAFETY_BACKUP_FAILED',
      `the safety backup of database "${database}" failed, so it was not replaced: ${errorMessage(error)}`,
      { cause: error, permanent: error instanceof BackupError && error.permanent },
    );
  }
}

/**
 * psql reads the SQL from stdin. Its stdin is only ever closed on success: psql with
 * `--single-transaction` COMMITs at end of input, so after a failed stream psql is killed first and
 * the server rolls the transaction back.
 */
async function runPsql(
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

/** Counts rows and schema objects of a restored database exactly as the backup counted its snapshot. */
async function inspectDatabase(url: string, secrets: readonly string[]): Promise<SnapshotCounts> {
  try {
    const snapshot = await openDumpSnapshot(url);
    try {
      return await snapshot.count(true);
    } finally {
      await snapshot.close();
    }
  } catch (error) {
    throw new RestoreError(
      'RESTORE_CONNECT_FAILED',
      `counting the restored database failed: ${scrubSecrets(errorMessage(error), secrets)}`,
      { cause: scrubError(error, secrets) },
    );
  }
}

/**
 * Puts `incoming` in place of `existing`: no new connections to the old one, its sessions ended,
 * both renames in one transaction (so the name is never missing), then the old database dropped.
 */
async function swapDatabases(
  maintenanceUrl: string,
  where: string,
  existing: string,
  incoming: string,
  at: Date,
  log: Logger,
  secrets: readonly string[],
): Promise<void> {
  await withMaintenanceClient(maintenanceUrl, where, async (client) => {
    const replaced = await freeDatabaseName(client, existing, at, 'replaced');
    try {
      await client.query(`ALTER DATABASE ${quoteIdent(existing)} ALLOW_CONNECTIONS false`);
      for (let attempt = 0; ; attempt++) {
        const { rows } = await client.query<{ sessions: string }>(
          `SELECT count(pg_terminate_backend(pid))::text AS sessions
             FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
          [existing],
        );
        if (Number(rows[0]?.sessions ?? 0) === 0) break;
        if (attempt >= 50) throw new Error(`sessions on "${existing}" did not end`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      await client.query('BEGIN');
      await client.query(`ALTER DATABASE ${quoteIdent(existing)} RENAME TO ${quoteIdent(replaced)}`);
      await client.query(`ALTER DATABASE ${quoteIdent(incoming)} RENAME TO ${quoteIdent(existing)}`);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      await client
        .query(`ALTER DATABASE ${quoteIdent(existing)} ALLOW_CONNECTIONS true`)
        .catch(() => undefined);
      throw new RestoreError(
        'RESTORE_SWAP_FAILED',
        `replacing database "${existing}" failed; it was left as it was: ${scrubSecrets(errorMessage(error), secrets)}`,
        { cause: scrubError(error, secrets) },
      );
    }
    try {
      await dropDatabase(client, replaced);
    } catch (error) {
      // The restore itself succeeded; the old copy only takes space.
      log.warn(
        { err: scrubError(error, secrets), database: replaced },
        'dropping the replaced database failed',
      );
    }
  });
}
