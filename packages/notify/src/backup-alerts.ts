import { nameList } from './name-list.js';
import type { Alert } from './types.js';

/** Common identity of a backup message. */
export interface BackupAlertTarget {
  target: string;
  environment: string;
}

export interface BackupSuccessInfo extends BackupAlertTarget {
  filename: string;
  size_mb: number;
  duration_ms: number;
  /** Where the backup is stored, without credentials (e.g. `s3://bucket/prefix/...`). */
  location?: string;
  sha256?: string;
}

/** One schedule window of `SLACK_SUCCESS_MODE=digest`. */
export interface BackupDigestInfo {
  /** ISO time of the scheduled run. */
  window: string;
  succeeded: number;
  expected: number;
  totalBytes: number;
  slowest?: { target: string; durationMs: number } | undefined;
  failed: string[];
  /** Targets that had not reported when the window was closed at its deadline. */
  missing?: string[];
}

export interface BackupFailureInfo extends BackupAlertTarget {
  /** Already free of secrets (scrubbed again by the notifier anyway). */
  error: string;
  /** Stable error code, e.g. `DUMP_FAILED`, `VERSION_MISMATCH`. */
  code?: string;
  jobId?: string;
  attempt?: number;
  maxAttempts?: number;
}

export interface IntegrityFailureInfo extends BackupAlertTarget {
  filename?: string | undefined;
  /** What failed: gzip stream, completion trailer, checksum, stored size. */
  reason?: string | undefined;
  /** Accepted instead of `reason` (an error message that already says what failed). */
  error?: string | undefined;
  jobId?: string | undefined;
}

export interface UploadFailureInfo extends BackupAlertTarget {
  /** The backup's file name; derived from `spoolPath` when absent. */
  filename?: string | undefined;
  /** Where the integrity-checked dump waits for the retry (a local path, shown to operators). */
  spoolPath?: string | undefined;
  error: string;
  /** 1-based number of the attempt that failed. */
  attempt: number;
  maxAttempts: number;
  /** True when no retry is left: the backup failed. */
  final: boolean;
  /** Delay before the next attempt, when one is scheduled. */
  nextRetryInMs?: number | undefined;
  jobId?: string | undefined;
}

export interface RestoreResultInfo {
  target: string;
  file: string;
  database: string;
  success: boolean;
  duration_ms?: number;
  dryRun?: boolean;
  tables?: number;
  rows?: number;
  error?: string;
  jobId?: string;
}

export interface RestoreTestFailedInfo {
  target: string;
  file?: string;
  reason: string;
  jobId?: string;
}

function formatDuration(ms: number | undefined): string | undefined {
  if (ms === undefined) return undefined;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

/**
 * Message builders for docs/architecture.md#alerts and restore results. Keys decide throttling (docs/architecture.md#alerts): repeated
 * failures of one target collapse into one message per window, while every success and every upload
 * retry (keyed by file and attempt) is reported.
 */
export const backupAlerts = {
  success(info: BackupSuccessInfo): Alert {
    return {
      key: `backup-success:${info.target}:${info.filename}`,
      level: 'success',
      title: `Backup of ${info.target} (${info.environment}) succeeded`,
      fields: {
        File: info.filename,
        Size: `${info.size_mb} MB`,
        Environment: info.environment,
        Duration: formatDuration(info.duration_ms),
        Location: info.location,
        'SHA-256': info.sha256,
      },
    };
  },

  /** One message for a whole schedule window (`SLACK_SUCCESS_MODE=digest`). */
  digest(info: BackupDigestInfo): Alert {
    const failed = info.failed.length;
    const missing = info.missing ?? [];
    const lines = [
      ...(failed > 0 ? [`Failed: ${nameList(info.failed, 10)}`] : []),
      ...(missing.length > 0 ? [`Not reported by the next run: ${nameList(missing, 10)}`] : []),
    ];
    return {
      key: `backup-digest:${info.window}`,
      level: failed > 0 || missing.length > 0 ? 'warning' : 'success',
      title: `Backups of the run at ${info.window}: ${info.succeeded} of ${info.expected} succeeded`,
      ...(lines.length > 0 ? { text: lines.join('\n') } : {}),
      fields: {
        Succeeded: info.succeeded,
        Failed: failed,
        ...(missing.length > 0 ? { 'Not reported': missing.length } : {}),
        'Total size': `${(info.totalBytes / 1024 / 1024).toFixed(1)} MB`,
        Slowest: info.slowest
          ? `${info.slowest.target} (${formatDuration(info.slowest.durationMs)})`
          : undefined,
      },
    };
  },

  failure(info: BackupFailureInfo): Alert {
    return {
      key: `backup-failed:${info.target}`,
      level: 'error',
      title: `Backup of ${info.target} (${info.environment}) failed`,
      text: info.error,
      fields: {
        Target: info.target,
        Environment: info.environment,
        Code: info.code,
        Attempt: info.attempt === undefined ? undefined : `${info.attempt}/${info.maxAttempts ?? '?'}`,
        Job: info.jobId,
      },
    };
  },

  integrityFailure(info: IntegrityFailureInfo): Alert {
    const reason = (info.reason ?? info.error ?? 'integrity check failed').replace(/\.$/, '');
    return {
      key: `backup-integrity-failed:${info.target}`,
      level: 'error',
      title: `Backup of ${info.target} (${info.environment}) failed its integrity check`,
      text: `${reason}. The file was not stored as a good backup.`,
      fields: { Target: info.target, Environment: info.environment, File: info.filename, Job: info.jobId },
    };
  },

  uploadFailure(info: UploadFailureInfo): Alert {
    const filename = info.filename ?? info.spoolPath?.split(/[\\/]/).pop() ?? 'unknown file';
    const fields = {
      File: filename,
      'Spool file': info.spoolPath,
      Environment: info.environment,
      Attempt: `${info.attempt}/${info.maxAttempts}`,
      'Next retry in': info.final ? undefined : formatDuration(info.nextRetryInMs),
      Job: info.jobId,
    };
    if (info.final) {
      return {
        key: `backup-upload-failed:${info.target}`,
        level: 'error',
        title: `Upload of the ${info.target} backup failed after ${info.attempt} attempts`,
        text: info.error,
        fields,
      };
    }
    return {
      key: `backup-upload-retry:${info.target}:${filename}:${info.attempt}`,
      level: 'warning',
      title: `Upload of the ${info.target} backup failed (attempt ${info.attempt}/${info.maxAttempts}), will retry`,
      text: info.error,
      fields,
    };
  },

  restoreResult(info: RestoreResultInfo): Alert {
    const mode = info.dryRun ? 'Dry-run restore' : 'Restore';
    return {
      key: info.success
        ? `restore-success:${info.target}:${info.database}:${info.file}`
        : `restore-failed:${info.target}`,
      level: info.success ? 'success' : 'error',
      title: info.success
        ? `${mode} of ${info.target} into ${info.database} succeeded`
        : `${mode} of ${info.target} into ${info.database} failed`,
      ...(info.error === undefined ? {} : { text: info.error }),
      fields: {
        File: info.file,
        Database: info.database,
        Duration: formatDuration(info.duration_ms),
        Tables: info.tables,
        Rows: info.rows,
        Job: info.jobId,
      },
    };
  },

  restoreTestFailed(info: RestoreTestFailedInfo): Alert {
    return {
      key: `restore-verify-failed:${info.target}`,
      level: 'error',
      title: `Restore test of ${info.target} failed`,
      text: info.reason,
      fields: { Target: info.target, File: info.file, Job: info.jobId },
    };
  },
} as const;
