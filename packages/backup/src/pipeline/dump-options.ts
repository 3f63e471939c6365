import type { BackupManifest } from '@warden/catalog';
import type { Compression, GzipEngine } from '../codecs/compression.js';
import type { StreamUpload } from './streamed-upload.js';
import type { BackupTargetSpec } from './target.js';

export interface BackupProgress {
  /** `verify` is the integrity check; phase words are read from job progress, so they stay. */
  phase: 'preflight' | 'dump' | 'verify';
  /** 0–100; estimated from SQL bytes against `pg_database_size` while dumping, never 100 before the end. */
  percent: number;
  /** SQL bytes dumped (phase `dump`) or compressed bytes checked (phase `verify`). */
  bytes: number;
}

export interface CreateSpooledBackupOptions {
  target: BackupTargetSpec;
  /** Directory for the local copy before upload; created when missing. */
  spoolDir: string;
  /** Refuse to start with less free space than this in `spoolDir`. */
  minFreeBytes: number;
  /** @defaultValue 'gzip' */
  compression?: Compression;
  /** gzip level 1–9 (igzip only 1–3). @defaultValue 6 */
  gzipLevel?: number;
  /** zstd level 1–19. @defaultValue 3 */
  zstdLevel?: number;
  /** Program that writes gzip (see {@link GzipEngine}). @defaultValue 'auto' */
  gzipEngine?: GzipEngine;
  /** zstd binary (compression `zstd`). @defaultValue 'zstd' */
  zstdPath?: string;
  /** Exact `count(*)` per table in the dump's snapshot; `false` records statistics estimates instead. @defaultValue true */
  rowCounts?: boolean;
  /** @defaultValue 'pg_dump' */
  pgDumpPath?: string;
  /** Limit for dump plus integrity check; the backup fails (and cleans up) after it. */
  timeoutMs: number;
  /** Who asked: `schedule`, `api`, `cli`, … (recorded in the manifest). */
  trigger?: string;
  jobId?: string;
  /** @defaultValue () => new Date() */
  now?: () => Date;
  onProgress?: (progress: BackupProgress) => void;
  signal?: AbortSignal;
  /**
   * Client-side encryption at rest: 64 hex characters (`BACKUP_ENCRYPTION_KEY`). The compressed
   * stream is encrypted (AES-256-GCM, see `encryption.ts`), the file name gets `.enc`, and the
   * manifest records the key id. @defaultValue no encryption
   */
  encryptionKey?: string | undefined;
  /**
   * Upload while dumping: called once with the stream of the file's bytes as they are written. The
   * stream ends only after every check passed, and is destroyed when the backup fails, so an upload
   * that completes on its end never stores a bad dump. The spool file is written all the same; a
   * failed streamed upload leaves it for the retries (docs/architecture.md#upload-retries). @defaultValue no streamed upload
   */
  streamUpload?: StreamUpload;
}

/** A dump that passed its integrity check, in the spool directory, waiting for upload. */
export interface SpooledBackup {
  spoolPath: string;
  /** Complete except `location`, which is `''` until the upload sets it. */
  manifest: BackupManifest;
  /** How the streamed upload (`streamUpload`) went, when there was one. */
  streamedUpload?: { ok: true } | { ok: false; error: unknown };
}

/** Spool names carry the target so that two targets with the same database name never collide. */
export function spoolFileName(target: string, filename: string): string {
  return `${target}.${filename}`;
}
