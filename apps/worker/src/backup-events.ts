import path from 'node:path';
import { type BackupTargetSpec, spoolFileName } from '@warden/backup';
import type { BackupManifest } from '@warden/catalog';
import { errorMessage } from '@warden/errors';
import type { Logger } from '@warden/logging';
import type { WardenMetrics } from '@warden/metrics';
import { backupAlerts, type Notifier } from '@warden/notify';
import { createSafeSender } from './notify-safely.js';

/** What the backup pipeline tells the outside world. Never throws: a failing Slack never fails a backup (A6). */
export interface BackupEvents {
  backupSucceeded(
    target: BackupTargetSpec,
    manifest: BackupManifest,
    context: { jobId?: string },
  ): Promise<void>;
  backupFailed(
    target: BackupTargetSpec,
    error: unknown,
    context: { jobId?: string; attempt?: number },
  ): Promise<void>;
  uploadFailed(
    target: BackupTargetSpec,
    error: unknown,
    context: { jobId?: string; attempt: number; maxAttempts: number; final: boolean; spoolPath: string },
  ): Promise<void>;
}

export interface BackupEventsDeps {
  logger: Logger;
  notifier?: Notifier;
  metrics?: Pick<
    WardenMetrics,
    | 'backupLastSuccessTimestamp'
    | 'backupDurationSeconds'
    | 'backupSizeBytes'
    | 'backupFailuresTotal'
    | 'backupUploadRetriesTotal'
  >;
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : 'UNKNOWN';
}

export function createBackupEvents(deps: BackupEventsDeps): BackupEvents {
  const { logger, notifier, metrics } = deps;

  const send = createSafeSender(notifier, logger);

  return {
    async backupSucceeded(target, manifest, context) {
      logger.info(
        { jobId: context.jobId, target: target.name, filename: manifest.filename, bytes: manifest.bytes },
        'backup stored and verified',
      );
      metrics?.backupLastSuccessTimestamp.set(
        { target: target.name },
        Date.parse(manifest.finished_at) / 1000,
      );
      metrics?.backupDurationSeconds.set({ target: target.name }, manifest.duration_ms / 1000);
      metrics?.backupSizeBytes.set({ target: target.name }, manifest.bytes);
      await send(
        backupAlerts.success({
          target: target.name,
          environment: target.environment,
          filename: manifest.filename,
          size_mb: manifest.size_mb,
          duration_ms: manifest.duration_ms,
        }),
      );
    },

    async backupFailed(target, error, context) {
      const code = errorCode(error);
      logger.error({ err: error, jobId: context.jobId, target: target.name, code }, 'backup failed');
      metrics?.backupFailuresTotal.inc({ target: target.name, reason: code });
      const details = {
        target: target.name,
        environment: target.environment,
        error: errorMessage(error),
        code,
        jobId: context.jobId,
      };
      await send(
        code === 'INTEGRITY_CHECK_FAILED'
          ? backupAlerts.integrityFailure(details)
          : backupAlerts.failure(details),
      );
    },

    async uploadFailed(target, error, context) {
      metrics?.backupUploadRetriesTotal.inc({ target: target.name });
      if (context.final) metrics?.backupFailuresTotal.inc({ target: target.name, reason: 'UPLOAD_FAILED' });
      // Operators look for the backup's own name (SPEC B3), not the spool file's target-prefixed one.
      const spooled = path.basename(context.spoolPath);
      const spoolPrefix = spoolFileName(target.name, '');
      await send(
        backupAlerts.uploadFailure({
          target: target.name,
          environment: target.environment,
          filename: spooled.startsWith(spoolPrefix) ? spooled.slice(spoolPrefix.length) : spooled,
          jobId: context.jobId,
          error: errorMessage(error),
          attempt: context.attempt,
          maxAttempts: context.maxAttempts,
          final: context.final,
          spoolPath: context.spoolPath,
        }),
      );
    },
  };
}
