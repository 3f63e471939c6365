import { databaseNameSlug } from '@warden/names';
/**
 * The manifest is a JSON sidecar stored beside each dump (`<target>/<file>.manifest.json`). The
 * storage listing of manifests is the backup catalog: it survives losing Redis.
 */
export const MANIFEST_SUFFIX = '.manifest.json';
export const MANIFEST_FORMAT_VERSION = 1;

export interface RestoreTestRecord {
  status: 'passed' | 'failed';
  /** ISO time the restore test finished. */
  at: string;
  /** Scratch database used (already dropped). */
  database?: string;
  duration_ms?: number;
  /** Human-readable differences when failed. */
  problems?: string[];
}

export interface BackupManifest {
  formatVersion: typeof MANIFEST_FORMAT_VERSION;
  /** Only stored backups that passed the integrity and stored-object checks get a manifest, so this is always `success`. */
  status: 'success';
  target: string;
  environment: string;
  database: string;
  /** `{database}_{environment}_{YYYYMMDD_HHMMSS}.sql.gz` (docs/architecture.md#backup-names). */
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
  /**
   * Older manifests: per-table row counts keyed `schema.table`, which is ambiguous (`dot."ted.name"`
   * and `"dot.ted".name` share a key). New manifests write {@link BackupManifest.tables}.
   */
  row_counts?: Record<string, number>;
  /** Per-table row counts from the dump's snapshot, schema and name apart. */
  tables?: TableRowCount[];
  row_counts_source?: 'snapshot' | 'statistics' | 'none';
  /** Schema object counts by kind (tables, indexes, sequences, …) at dump time. */
  schema_objects?: Record<string, number>;
  verification?: RestoreTestRecord;
  /** What the data of the dump was, to prove a restore brought back exactly that. */
  content?: ContentProof;
  /** The database's comment and `ALTER DATABASE … SET` / `ALTER ROLE … IN DATABASE … SET` settings. */
  database_properties?: DatabaseProperties;
  /**
   * The dump file gives the restored database {@link BackupManifest.database_properties} itself
   * (a section of its own before pg_dump's output): a restore reads them back and compares. Absent
   * (older backups): the restore applies them from the manifest.
   */
  database_properties_in_dump?: boolean;
  /** Event triggers of the database (they would fire while a restore replays the dump). */
  event_triggers?: EventTriggerRecord[];
  /**
   * The database's encoding and locale: a plain dump does not hold them, so a restore creates its
   * database with them (sort order, `upper()`, pattern matching and what text may hold depend on it).
   */
  database_locale?: DatabaseLocale;
}

/** `pg_database`'s encoding, `datcollate`, `datctype` and locale provider of one database. */
export interface DatabaseLocale {
  /** `pg_encoding_to_char(encoding)`, e.g. `UTF8`, `LATIN1`. */
  encoding: string;
  collate: string;
  ctype: string;
  /** `datlocprovider` (PostgreSQL 15+; `libc` before). */
  provider: 'libc' | 'icu' | 'builtin';
  /** The ICU locale (15, 16: `daticulocale`) or the provider's locale (17+: `datlocale`); null for libc. */
  locale: string | null;
  /** ICU tailoring rules (`daticurules`, 16+); null when none. */
  icu_rules: string | null;
}

export interface TableRowCount {
  schema: string;
  name: string;
  rows: number;
}

/** Version of {@link ContentProof}; a reader that does not know it falls back to row counts. */
export const CONTENT_PROOF_VERSION = 1;

/**
 * The data as pg_dump wrote it. `tables`: per COPY block, the row count and an order-independent
 * digest of its lines (see `row-digest.ts` in the backup package); `sequences`: each `setval`;
 * `large_objects`: count and digest of their contents.
 */
export interface ContentProof {
  version: typeof CONTENT_PROOF_VERSION;
  algorithm: string;
  tables: TableDigest[];
  sequences: SequenceValue[];
  large_objects?: { count: number; digest: string };
  /** The dump's `client_encoding` (its data and names are in it); absent: the database's. */
  encoding?: string;
}

export interface TableDigest {
  schema: string;
  name: string;
  /** Columns as pg_dump listed them in its COPY statement. */
  columns: string[];
  rows: number;
  digest: string;
}

export interface SequenceValue {
  schema: string;
  name: string;
  /** `last_value` as text (a bigint). */
  value: string;
  is_called: boolean;
}

export interface DatabaseProperties {
  comment: string | null;
  /** `role` null: a setting of the database for every role. */
  settings: { role: string | null; name: string; value: string }[];
}

export interface EventTriggerRecord {
  name: string;
  /** pg_event_trigger.evtenabled: O (origin), R (replica), A (always), D (disabled). */
  enabled: string;
}

export function manifestKeyFor(dumpKey: string): string {
  return `${dumpKey}${MANIFEST_SUFFIX}`;
}

export function dumpKeyFor(target: string, filename: string): string {
  return `${target}/${filename}`;
}

/** `YYYYMMDD_HHMMSS` in UTC (docs/architecture.md#backup-names). */
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

/** Megabytes (MiB) rounded to two decimals, the `size_mb` of docs/architecture.md#backup-result. */
export function sizeMb(bytes: number): number {
  return Math.round((bytes / (1024 * 1024)) * 100) / 100;
}
