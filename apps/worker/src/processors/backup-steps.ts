import type { Readable } from 'node:stream';
import {
  type BackupProgress,
  type BackupTargetSpec,
  createSpooledBackup,
  type GzipEngine,
  type SpooledBackup,
  type StreamUploadInfo,
  streamedUploadFailure,
  uploadSpooledBackup,
} from '@warden/backup';
import type { BackupManifest } from '@warden/catalog';
import type { Logger } from '@warden/logging';
import type { BackupStorage } from '@warden/storage';

/*
 * The two steps of a backup in the worker, shared by the backup processor and the restore's
 * safety backup. Neither waits or retries: what follows a failure is the caller's decision.
 */

export interface BackupPipelineSettings {
  spoolDir: string;
  minFreeBytes: number;
  compression: 'gzip' | 'zstd';
  gzipLevel: number;
  gzipEngine: GzipEngine;
  rowCounts: boolean;
  timeoutMs: number;
  pgDumpPath: string;
  uploadRetryAttempts: number;
  uploadRetryDelayMs: number;
  /** 64 hex characters turn on client-side AES-256-GCM encryption of the dump. */
  encryptionKey?: string | undefined;
}

export interface BackupStepDeps {
  settings: BackupPipelineSettings;
  storage: BackupStorage;
}

export type StreamedUpload = NonNullable<SpooledBackup['streamedUpload']>;

export interface DumpStepOptions {
  target: BackupTargetSpec;
  trigger: string;
  jobId: string | undefined;
  signal: AbortSignal | undefined;
  onProgress?: (progress: BackupProgress) => void;
}

/**
 * Step one: dump, compress and run the integrity check into the spool. Where the store prefers it
 * (S3), the upload runs while pg_dump writes; the spool file is still written for the upload
 * retries, and the upload only completes once the integrity check passed.
 */
export function dumpToSpool(
  deps: BackupStepDeps,
  log: Logger,
  options: DumpStepOptions,
): Promise<SpooledBackup> {
  const { signal } = options;
  const streamUpload = deps.storage.prefersStreamedUpload
    ? (body: Readable, info: StreamUploadInfo) =>
        deps.storage.putStream(info.key, body, {
          contentType: info.contentType,
          ...(info.expectedSize === undefined ? {} : { expectedSize: info.expectedSize }),
          ...(signal ? { signal } : {}),
        })
    : undefined;
  return createSpooledBackup(
    { logger: log },
    {
      ...deps.settings,
      target: options.target,
      ...(streamUpload ? { streamUpload } : {}),
      trigger: options.trigger,
      jobId: options.jobId,
      signal,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    },
  );
}

/**
 * Step two, one attempt: upload the spool file unless the streamed upload already stored it, then
 * the stored-object check and the manifest. A streamed upload that failed counts as this attempt.
 */
export async function uploadOnce(
  deps: BackupStepDeps,
  log: Logger,
  spooled: SpooledBackup,
  streamed: StreamedUpload | undefined,
  onProgress?: (bytesSent: number) => void,
): Promise<BackupManifest> {
  const streamedFailure = streamed
    ? streamedUploadFailure({ ...spooled, streamedUpload: streamed }, deps.storage)
    : undefined;
  if (streamedFailure) throw streamedFailure;
  return uploadSpooledBackup(
    { storage: deps.storage, logger: log },
    { spoolPath: spooled.spoolPath, manifest: spooled.manifest },
    { alreadyStored: streamed?.ok === true, ...(onProgress ? { onProgress } : {}) },
  );
}

/** Of a backup's progress in percent, the dump and integrity check take 0 to this; the upload follows. */
export const DUMP_PERCENT_END = 80;

/** The dump step's progress (0-100) as a backup's percent. */
export function dumpPercent(progress: BackupProgress): number {
  return Math.round((progress.percent * DUMP_PERCENT_END) / 100);
}

/** The upload step's progress as a backup's percent, from {@link DUMP_PERCENT_END} up to `end`. */
export function uploadPercent(bytesSent: number, totalBytes: number, end: number): number {
  return DUMP_PERCENT_END + Math.floor((bytesSent / Math.max(1, totalBytes)) * (end - DUMP_PERCENT_END));
}

/**
 * Backup names have one-second resolution: the start of the second after `startedAt` (an ISO
 * time), until which the target lock is kept so no other backup takes the same name; undefined
 * when unparsable.
 */
export function nextSecondAfter(startedAt: string): number | undefined {
  const time = Date.parse(startedAt);
  return Number.isNaN(time) ? undefined : Math.floor(time / 1000) * 1000 + 1000;
}
