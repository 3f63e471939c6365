import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage, RestoreError } from '@warden/errors';
import {
  type ConnectionParams,
  connectionSecrets,
  describeConnection,
  parseDatabaseUrl,
} from '../postgres/connection.js';
import { downloadWithIntegrityCheck, readFailure } from './download.js';
import { assertKeyOpensBackup } from './encryption-key-check.js';
import { createFreshDatabase, dropHalfRestoredDatabase } from './fresh-database.js';
import {
  dropDatabase,
  renameDatabase,
  swapDatabases,
  withMaintenanceClient,
} from './maintenance-connection.js';
import { assertRestorableDatabaseName, databaseUrlFor } from './naming.js';
import { checkPsql, type RestoreSource, runPsql } from './psql-runner.js';
import { resolveBackup } from './resolve-backup.js';
import { createRestoreDeadline } from './restore-deadline.js';
import type { RestoreBackupOptions, RestoreDeps, RestoreProgress, RestoreResult } from './restore-options.js';
import { type MaintenanceAccess, planDestination, planEventTriggers } from './restore-plan.js';
import { startRestoredDatabaseProof } from './restored-database-proof.js';
import { takeSafetyBackup } from './safety-backup.js';

const DEFAULT_TIMEOUT_MS = 6 * 60 * 60 * 1000;

/**
 * Restores a backup (docs/architecture.md#restore). Order matters for safety:
 * 1. resolve the backup and the database to write, refuse an existing one without `overwrite`;
 * 2. download it and check size, SHA-256, the whole stream (integrity check) and the completion trailer — before any
 *    SQL runs, so a corrupt backup leaves every database untouched (a restore test reads it
 *    straight from storage into psql and checks all of that on the way, into the scratch database
 *    it drops anyway);
 * 3. (dry run stops here)
 * 4. for `overwrite` of an existing database, take a safety backup of it first;
 * 5. restore into a *new* database under a free `_incoming_` name (a test restore: its scratch
 *    name) with `psql -v ON_ERROR_STOP=1`, statement by statement
 *    (restore-session.ts: one transaction would exhaust the lock table on thousands of tables);
 * 6. prove it against the manifest (counts, schema objects, contents);
 * 7. give it the name asked for: renamed, or for `overwrite` swapped in under the old name (one
 *    transaction) and the old one dropped.
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
  const deadline = createRestoreDeadline(
    target.name,
    options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    options.signal,
  );
  const { signal } = deadline;
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
  const maintenance: MaintenanceAccess = {
    url: databaseUrlFor(target.databaseUrl, maintenanceDatabase),
    where: `${describeConnection({ ...server, database: maintenanceDatabase })} of target "${target.name}"`,
  };
  let lastPercent = -1;
  let lastPhase: RestoreProgress['phase'] | undefined;
  const progress = (update: RestoreProgress) => {
    if (update.percent === lastPercent && update.phase === lastPhase && update.phase !== 'restore') return;
    lastPercent = update.percent;
    lastPhase = update.phase;
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
  assertKeyOpensBackup(manifest, options.encryptionKey);
  const psqlVersion = await checkPsql(psqlPath);

  const plan = await planDestination(maintenance, options, startedAt);
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
  const triggerSafety = await planEventTriggers(maintenance, manifest);

  const localPath = join(
    options.spoolDir,
    `restore-${randomBytes(6).toString('hex')}-${target.name}.${manifest.filename}`,
  );
  let createdDatabase: string | undefined;
  try {
    deadline.throwIfAborted();
    // A restore test's scratch database is dropped whatever happens: psql is fed straight from
    // storage, and size, SHA-256 and stream are checked on the way. A dry run or a real restore
    // downloads the file and checks it whole before any SQL runs.
    if (!options.discard) {
      await downloadWithIntegrityCheck(storage, manifest, localPath, options, signal, (bytes) =>
        progress({
          phase: 'download',
          percent: Math.floor((bytes / Math.max(1, totalBytes)) * 29),
          bytes,
          totalBytes,
        }),
      ).catch((error: unknown) => {
        throw deadline.orAbort(error);
      });
      // The integrity check ran during the download; its phase ends with it.
      progress({ phase: 'verify', percent: 30, bytes: totalBytes, totalBytes });
      log.info(
        { file: manifest.filename, sha256: manifest.sha256 },
        'backup downloaded, integrity check passed',
      );
    }
    const source: RestoreSource = options.discard
      ? {
          open: () => storage.read(manifest.key),
          unchecked: true,
          readFailure: (error) => readFailure(storage, manifest, error),
        }
      : {
          open: async () => createReadStream(localPath),
          unchecked: false,
          readFailure: (error) =>
            new RestoreError(
              'RESTORE_DOWNLOAD_FAILED',
              `reading the downloaded backup failed: ${errorMessage(error)}`,
              {
                cause: error,
              },
            ),
        };

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
    // Replacing a database: its safety backup takes 30-45 % and psql the rest up to 90 %.
    const restoreFrom = plan.action === 'replace' ? 45 : 30;
    if (plan.action === 'replace') {
      progress({ phase: 'safety-backup', percent: 30, bytes: 0, totalBytes });
      safetyBackup = await takeSafetyBackup(options, plan.database, signal, (update) =>
        progress({
          phase: 'safety-backup',
          percent: 30 + Math.floor((Math.min(100, update.percent) / 100) * (restoreFrom - 30)),
          bytes: update.bytes,
          totalBytes,
        }),
      );
      log.info({ database: plan.database, safetyBackup }, 'safety backup of the database to replace stored');
    }
    deadline.throwIfAborted();

    const fresh = await createFreshDatabase(
      maintenance,
      plan,
      now(),
      secrets,
      (name) => {
        createdDatabase = name;
      },
      { discard: options.discard, locale: manifest.database_locale },
    );
    if (fresh.localeNote) log.warn({ database: fresh.name }, fresh.localeNote);
    const restoreInto = fresh.name;
    log.info({ database: restoreInto, owner: fresh.owner }, 'database created; restoring');

    const proof = startRestoredDatabaseProof(
      manifest,
      {
        url: databaseUrlFor(target.databaseUrl, restoreInto),
        params: { ...server, database: restoreInto },
      },
      psqlPath,
      deadline,
      secrets,
      fresh.localeNote,
    );
    await runPsql(
      source,
      manifest,
      { ...server, database: restoreInto },
      options,
      psqlPath,
      triggerSafety,
      signal,
      {
        onBytes: (bytes, sqlBytes) =>
          progress({
            phase: 'restore',
            percent: restoreFrom + Math.floor((bytes / Math.max(1, totalBytes)) * (90 - restoreFrom)),
            bytes,
            totalBytes,
            sqlBytes,
          }),
        onCopyCommitted: (ordinal) => proof.copyCommitted(ordinal),
      },
    ).catch((error: unknown) => {
      proof.cancel();
      throw deadline.orAbort(error);
    });
    if (signal.aborted) proof.cancel();
    deadline.throwIfAborted();

    progress({ phase: 'check', percent: 92, bytes: totalBytes, totalBytes });
    const check = await proof.finish();
    log.info(
      {
        database: restoreInto,
        tables: check.tables,
        rows: check.rows,
        content: check.content,
        note: check.contentNote,
        locale: check.locale,
      },
      'restored database checked',
    );

    if (plan.action === 'create' && restoreInto !== plan.database) {
      // Proven: only now does the new database get the name asked for.
      await renameDatabase(maintenance.url, maintenance.where, restoreInto, plan.database, secrets);
      createdDatabase = undefined;
    }
    if (plan.action === 'replace') {
      progress({ phase: 'swap', percent: 96, bytes: totalBytes, totalBytes });
      await swapDatabases(
        maintenance.url,
        maintenance.where,
        plan.database,
        restoreInto,
        now(),
        log,
        secrets,
      );
      createdDatabase = undefined;
    }
    let discarded = false;
    if (options.discard) {
      await withMaintenanceClient(maintenance.url, maintenance.where, (client) =>
        dropDatabase(client, restoreInto),
      );
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
    if (createdDatabase !== undefined)
      await dropHalfRestoredDatabase(maintenance, createdDatabase, log, secrets);
    throw error;
  } finally {
    await rm(localPath, { force: true }).catch(() => undefined);
  }
}
