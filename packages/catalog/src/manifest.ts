import { databaseNameSlug } from '@warden/names';
/**
 * The manifest is a JSON sidecar stored beside each dump (`<target>/<file>.manifest.json`). The
 * storage listing of manifests is the backup catalog: it survives losing Redis.
 */
export const MANIFEST_SUFFIX = '.manifest.json';
export const MANIFEST_FORMAT_VERSION = 1;

export interface RestoreVerification {
  status: 'passed' | 'failed';
  /** ISO time the verification finished. */
  at: string;
  /** Scratch database used (already dropped). */
  database?: string;
  duration_ms?: number;
  /** Human-readable differences when failed. */
  problems?: string[];
}

export interface BackupManifest {
  formatVersion: typeof MANIFEST_FORMAT_VERSION;
  /** Only verified, stored backups get a manifest, so this is always `success`. */
  status: 'success';
  target: string;
  environment: string;
  database: string;
  /** `{database}_{environment}_{YYYYMMDD_HHMMSS}.sql.gz` (SPEC B3). */
  filename: string;
  /** Storage key of the dump, `<target>/<filename>`. */
  key: string;
  bytes: number;
  size_mb: number;
  /** Hex SHA-256 of the stored file (compressed, and encrypted when encryption is on). */
  sha256: string;
  /** Bytes of plain SQL pg_dump produced. */
  sql_bytes: number;
  compression: 'gzip' | 'zstd';
  encryption?: { algorithm: 'aes-256-gcm'; keyId: string };
  started_at: string;
  finished_at: string;
  duration_ms: number;
  /** Where the dump is stored (no secrets). */
  location: string;
  server_version: string;
  pg_dump_version: string;
  host: string;
  trigger?: string;
  job_id?: string;
  /** Per-table row counts (`schema.table`) from the dump's snapshot. */
  row_counts?: Record<string, number>;
  row_counts_source?: 'snapshot' | 'statistics' | 'none';
  /** Schema object counts by kind (tables, indexes, sequences, …) at dump time. */
  schema_objects?: Record<string, number>;
  verification?: RestoreVerification;
}

export function manifestKeyFor(dumpKey: string): string {
  return `${dumpKey}${MANIFEST_SUFFIX}`;
}

export function dumpKeyFor(target: string, filename: string): string {
  return `${target}/${filename}`;
}

/** `YYYYMMDD_HHMMSS` in UTC (SPEC B3). */
export function formatBackupTimestamp(date: Date): string {
  const iso = date.toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}_${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
}

export function backupFileName(
  database: string,
  environment: string,
  at: Date,
  compression: 'gzip' | 'zstd' = 'gzip',
): string {
  const extension = compression === 'zstd' ? 'sql.zst' : 'sql.gz';
  // The real name may hold spaces, "$" or non-ASCII letters; the manifest keeps it.
  return `${databaseNameSlug(database)}_${environment}_${formatBackupTimestamp(at)}.${extension}`;
}

/** Megabytes (MiB) rounded to two decimals, the `size_mb` of SPEC B6. */
export function sizeMb(bytes: number): number {
  return Math.round((bytes / (1024 * 1024)) * 100) / 100;
}
