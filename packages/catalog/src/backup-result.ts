import { type BackupManifest, sizeMb } from './manifest.js';

/**
 * docs/architecture.md#backup-result: the result of a backup as returned by the API and the CLI. A type alias (not an
 * interface) so it fits records with an index signature such as the queue's job result.
 */
export type BackupResult = {
  status: 'success';
  filename: string;
  size_mb: number;
  target: string;
  environment: string;
  database: string;
  bytes: number;
  sha256: string;
  duration_ms: number;
  location: string;
  key: string;
  compression: 'gzip' | 'zstd';
  started_at: string;
  finished_at: string;
  row_counts_source?: 'snapshot' | 'statistics' | 'none';
  trigger?: string;
  job_id?: string;
};

export function toBackupResult(manifest: BackupManifest): BackupResult {
  return {
    status: manifest.status,
    filename: manifest.filename,
    size_mb: sizeMb(manifest.bytes),
    target: manifest.target,
    environment: manifest.environment,
    database: manifest.database,
    bytes: manifest.bytes,
    sha256: manifest.sha256,
    duration_ms: manifest.duration_ms,
    location: manifest.location,
    key: manifest.key,
    compression: manifest.compression,
    started_at: manifest.started_at,
    finished_at: manifest.finished_at,
    ...(manifest.row_counts_source ? { row_counts_source: manifest.row_counts_source } : {}),
    ...(manifest.trigger ? { trigger: manifest.trigger } : {}),
    ...(manifest.job_id ? { job_id: manifest.job_id } : {}),
  };
}
