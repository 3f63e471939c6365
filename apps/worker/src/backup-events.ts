import path from 'node:path';
import { type BackupTargetSpec, spoolFileName } from '@warden/backup';
import { type BackupManifest, manifestKeyFor } from '@warden/catalog';
import { errorMessage } from '@warden/errors';
import type { Logger } from '@warden/logging';
import type { WardenMetrics } from '@warden/metrics';
import { backupAlerts, type Notifier, withRedisTimeout } from '@warden/notify';
import { createSafeSender } from './notify-safely.js';
import type { SuccessDigest } from './success-digest.js';

/** What the backup pipeline tells the outside world. Never throws: a failing Slack never fails a backup. */
export interface BackupEvents {
  backupSucceeded(
    target: BackupTargetSpec,
    manifest: BackupManifest,
    context: { jobId?: string },
  ): Promise<void>;
  backupFailed(
    target: BackupTargetSpec,
    error: unknown,
    context: { jobId?: string; attempt?: number; trigger?: string; startedAt?: string },
  ): Promise<void>;
  uploadFailed(
    target: BackupTargetSpec,
    error: unknown,
    context: {
      jobId?: string;
      attempt: number;
      maxAttempts: number;
      final: boolean;
      spoolPath: string;
      trigger?: string;
      startedAt?: string;
    },
  ): Promise<void>;
}

export interface BackupEventsDeps {
  logger: Logger;
  notifier?: Notifier;
  /** `SLACK_SUCCESS_MODE`: failures are always sent at once. @defaultValue 'each' */
  successMode?: 'each' | 'digest' | 'off';
  /** The shared windows of `digest` mode. */
  digest?: SuccessDigest;
  /** Tells the API's whole-store listing about a manifest just written (never throws). */
  indexBackup?: (manifestKey: string) => Promise<void>;
  /** Dead-man pings after each good or failed backup. */
  deadman?: (target: string, event: 'success' | 'fail') => Promise<void>;
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
  const successMode = deps.successMode ?? 'each';

  const send = createSafeSender(notifier, logger);
  const ping = (target: string, event: 'success' | 'fail') =>
    deps.deadman?.(target, event).catch(() => undefined) ?? Promise.resolve();
  /**
   * Counts a scheduled result into its window and sends the window's one message when it is
   * complete. True when the result belongs in no open window and must be reported on its own.
   */
  const countIntoDigest = async (entry: Parameters<SuccessDigest['record']>[0]): Promise<boolean> => {
    if (successMode !== 'digest' || !deps.digest) return true;
    try {
      // A worker's Redis client waits for Redis forever; a backup's report must not.
      const outcome = await withRedisTimeout(deps.digest.record(entry), 5_000);
      if ('summary' in outcome) await send(backupAlerts.digest(outcome.summary));
      return 'late' in outcome || 'skipped' in outcome;
    } catch (error) {
      logger.warn({ err: error, target: entry.target }, 'could not count the backup into the digest');
      return true;
    }
  };

  /** A backup that will not be retried: the dead-man "fail" ping, and its place in the digest. */
  const finallyFailed = async (target: string, context: { trigger?: string; startedAt?: string }) => {
    await ping(target, 'fail');
    if (context.trigger !== 'schedule') return;
    await countIntoDigest({ target, startedAt: context.startedAt ?? new Date().toISOString(), ok: false });
  };

  return {
    async backupSucceeded(target, manifest, context) {
      logger.info(
        { jobId: context.jobId, target: target.name, filename: manifest.filename, bytes: manifest.bytes },
        'backup stored, integrity and stored-object checks passed',
      );
      metrics?.backupLastSuccessTimestamp.set(
        { target: target.name },
        Date.parse(manifest.finished_at) / 1000,
      );
      metrics?.backupDurationSeconds.set({ target: target.name }, manifest.duration_ms / 1000);
      metrics?.backupSizeBytes.set({ target: target.name }, manifest.bytes);
      await deps.indexBackup?.(manifestKeyFor(manifest.key));
      await ping(target.name, 'success');
      // A digest summarises schedule windows; a backup someone asked for is reported on its own.
      const inDigest = successMode === 'digest' && deps.digest && manifest.trigger === 'schedule';
      if (inDigest) {
        const onItsOwn = await countIntoDigest({
          target: target.name,
          startedAt: manifest.started_at,
          ok: true,
          bytes: manifest.bytes,
          durationMs: manifest.duration_ms,
        });
        if (!onItsOwn) return;
      }
      if (successMode === 'off') return;
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
      await finallyFailed(target.name, context);
    },

    async uploadFailed(target, error, context) {
      metrics?.backupUploadRetriesTotal.inc({ target: target.name });
      if (context.final) {
        metrics?.backupFailuresTotal.inc({ target: target.name, reason: 'UPLOAD_FAILED' });
        await finallyFailed(target.name, context);
      }
      // Operators look for the backup's own name (docs/architecture.md#backup-names), not the spool file's target-prefixed one.
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

/**
 * Every `intervalMs`, closes the digest windows whose deadline passed without every target
 * reporting and sends their summaries (each window by one worker only). Returns a stop function.
 */
export function startOverdueDigestSweep(options: {
  digest: SuccessDigest;
  notifier: Notifier | undefined;
  logger: Logger;
  intervalMs?: number;
}): () => void {
  const send = createSafeSender(options.notifier, options.logger);
  // One sweep at a time: a slow Slack must not pile sweeps up.
  let sweeping = false;
  const sweep = () => {
    if (sweeping) return;
    sweeping = true;
    void options.digest
      .closeOverdue()
      .then(async (summaries) => {
        for (const summary of summaries) await send(backupAlerts.digest(summary));
      })
      .catch((error: unknown) => options.logger.warn({ err: error }, 'could not close overdue digests'))
      .finally(() => {
        sweeping = false;
      });
  };
  const timer = setInterval(sweep, options.intervalMs ?? 60_000);
  timer.unref();
  return () => clearInterval(timer);
}
