import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage, RestoreError, scrubError, scrubSecrets } from '@warden/errors';
import { keyIdOf } from '../codecs/encryption.js';
import { checkRestoredContent } from '../content/content-proof.js';
import { compareWithManifest } from '../content/restore-check.js';
import {
  type ConnectionParams,
  connectionSecrets,
  describeConnection,
  parseDatabaseUrl,
  quoteIdent,
} from '../postgres/connection.js';
import { EventTriggerRestoreError, planTriggerSafety } from '../postgres/event-trigger-safety.js';
import { downloadWithIntegrityCheck } from './download.js';
import { inspectDatabase } from './inspect-database.js';
import {
  databaseExists,
  dropDatabase,
  freeDatabaseName,
  swapDatabases,
  withMaintenanceClient,
} from './maintenance-connection.js';
import { assertRestorableDatabaseName, databaseUrlFor } from './naming.js';
import { checkPsql, runPsql } from './psql-runner.js';
import { resolveBackup } from './resolve-backup.js';
import type { RestoreBackupOptions, RestoreDeps, RestoreProgress, RestoreResult } from './restore-options.js';
import { takeSafetyBackup } from './safety-backup.js';

const DEFAULT_TIMEOUT_MS = 6 * 60 * 60 * 1000;

/**
 * Restores a backup (docs/architecture.md#restore). Order matters for safety:
 * 1. resolve the backup and the database to write, refuse an existing one without `overwrite`;
 * 2. download it and check size, SHA-256, the whole stream (integrity check) and the completion trailer — before any
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
    await downloadWithIntegrityCheck(storage, manifest, localPath, options, signal, (bytes) =>
      progress({
        phase: 'download',
        percent: Math.floor((bytes / Math.max(1, totalBytes)) * 29),
        bytes,
        totalBytes,
      }),
    ).catch((error: unknown) => {
      throw signal.aborted ? abortError() : error;
    });
    // The integrity check ran during the download; its phase ends with it.
    progress({ phase: 'verify', percent: 30, bytes: totalBytes, totalBytes });
    log.info(
      { file: manifest.filename, sha256: manifest.sha256 },
      'backup downloaded, integrity check passed',
    );

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
