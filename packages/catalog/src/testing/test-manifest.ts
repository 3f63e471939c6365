import { type BackupManifest, backupFileName, dumpKeyFor } from '../manifest.js';

/** What a test says about the backup a manifest describes; everything else gets a plain default. */
export interface TestManifestOptions {
  target: string;
  startedAt: Date;
  /** @defaultValue 'appdb' */
  database?: string;
}

/** A valid success manifest for the catalog's unit tests, named and keyed as a real backup would be. */
export function testManifest(
  options: TestManifestOptions,
  extra: Partial<BackupManifest> = {},
): BackupManifest {
  const database = options.database ?? 'appdb';
  const startedAt = options.startedAt.toISOString();
  const filename = backupFileName(database, 'production', options.startedAt);
  return {
    formatVersion: 1,
    status: 'success',
    target: options.target,
    environment: 'production',
    database,
    filename,
    key: dumpKeyFor(options.target, filename),
    bytes: 10,
    size_mb: 0,
    sha256: 'a'.repeat(64),
    sql_bytes: 20,
    compression: 'gzip',
    started_at: startedAt,
    finished_at: startedAt,
    duration_ms: 5,
    location: '',
    server_version: '15.20',
    pg_dump_version: '15.20',
    host: 'test',
    ...extra,
  };
}
