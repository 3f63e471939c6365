/**
 * Every error code Warden reports, with whether retrying can help and what it means. Codes are
 * stable: they appear in job failure reasons, alerts, the `reason` label of `backup_failures_total`
 * and HTTP error bodies. `permanent` is the default; a thrown error may override it when it knows
 * better (e.g. a connection refused by authentication is permanent, a timeout is not).
 */
export interface ErrorCodeInfo {
  /** No retry can fix it: the operator has to change something first. */
  permanent: boolean;
  meaning: string;
}

/** Failures of taking a backup: preflight, pg_dump, compression, the integrity check, upload. */
export const BACKUP_ERROR_CODES = {
  PREFLIGHT_CONNECT_FAILED: {
    permanent: false,
    meaning:
      'The target database cannot be reached before dumping (bad credentials, an unknown database or an encoding without conversion to UTF-8 are permanent).',
  },
  PG_DUMP_NOT_FOUND: { permanent: true, meaning: 'pg_dump is missing or does not run at PG_DUMP_PATH.' },
  PG_DUMP_VERSION_MISMATCH: {
    permanent: true,
    meaning: "pg_dump's major version is older than the server's; install a matching client.",
  },
  INSUFFICIENT_SPACE: {
    permanent: false,
    meaning: 'The spool directory has not enough free space for the dump (or filled up while writing).',
  },
  PG_DUMP_FAILED: { permanent: false, meaning: 'pg_dump exited with an error, timed out or was aborted.' },
  COMPRESSION_FAILED: {
    permanent: false,
    meaning: 'The compressor failed, or the configured level is one the engine does not have (permanent).',
  },
  SPOOL_WRITE_FAILED: {
    permanent: false,
    meaning: 'The compressed dump could not be written to the spool file.',
  },
  INTEGRITY_CHECK_FAILED: {
    permanent: false,
    meaning:
      'The integrity check of the compressed stream failed: it does not decompress (or decrypt) whole, or lacks the completion trailer.',
  },
  UPLOAD_FAILED: {
    permanent: false,
    meaning:
      'Storing the integrity-checked dump or its manifest failed; the spool file is kept for the upload retries.',
  },
  UPLOAD_VERIFY_FAILED: {
    permanent: false,
    meaning:
      'The stored-object check failed: the object in storage differs in size or SHA-256 from the dump.',
  },
  MANIFEST_INVALID: { permanent: true, meaning: 'A stored manifest is not a valid Warden manifest.' },
  SPOOL_RECORD_INVALID: {
    permanent: true,
    meaning: 'A job names a spooled dump the worker has no trustworthy record of, or the file changed since.',
  },
} as const satisfies Record<string, ErrorCodeInfo>;

/** Client-side encryption at rest. */
export const ENCRYPTION_ERROR_CODES = {
  ENCRYPTION_KEY_INVALID: { permanent: true, meaning: 'BACKUP_ENCRYPTION_KEY is not 64 hex characters.' },
  ENCRYPTION_KEY_MISSING: {
    permanent: true,
    meaning: 'The backup is encrypted and no BACKUP_ENCRYPTION_KEY is configured.',
  },
  ENCRYPTION_KEY_MISMATCH: {
    permanent: true,
    meaning: 'The backup was encrypted with another key than the configured one (compare the key ids).',
  },
  ENCRYPTION_FORMAT_INVALID: { permanent: true, meaning: 'The data is not a Warden encrypted stream.' },
  ENCRYPTION_AUTH_FAILED: {
    permanent: true,
    meaning: 'An encrypted chunk failed authentication: the data was altered.',
  },
  ENCRYPTION_TRUNCATED: { permanent: true, meaning: 'The encrypted stream ends before its final chunk.' },
} as const satisfies Record<string, ErrorCodeInfo>;

/** Restores, including the restore test. */
export const RESTORE_ERROR_CODES = {
  RESTORE_BACKUP_NOT_FOUND: { permanent: true, meaning: 'No such backup (or no good backup for `latest`).' },
  RESTORE_INVALID_DATABASE: {
    permanent: true,
    meaning: 'The database name is not allowed (system databases, bad characters, no free name).',
  },
  RESTORE_DATABASE_EXISTS: {
    permanent: true,
    meaning: 'The database exists and overwrite was not asked for.',
  },
  RESTORE_INSUFFICIENT_SPACE: {
    permanent: false,
    meaning: 'The spool directory has no room for the download.',
  },
  RESTORE_DOWNLOAD_FAILED: {
    permanent: false,
    meaning: 'Reading the backup or its manifest from storage failed.',
  },
  RESTORE_INTEGRITY_FAILED: {
    permanent: true,
    meaning:
      'The downloaded backup differs from its manifest (size, SHA-256, SQL size) or does not decompress whole.',
  },
  RESTORE_PSQL_NOT_FOUND: { permanent: true, meaning: 'psql is missing or does not run at PSQL_PATH.' },
  RESTORE_CONNECT_FAILED: {
    permanent: false,
    meaning: "The target's server cannot be reached or refused a statement (bad credentials are permanent).",
  },
  RESTORE_SAFETY_BACKUP_FAILED: {
    permanent: false,
    meaning: 'The safety copy of the database to replace failed, so it was left untouched.',
  },
  RESTORE_PSQL_FAILED: {
    permanent: false,
    meaning:
      'psql failed; the new database it wrote into was dropped (an error in the SQL itself is permanent).',
  },
  RESTORE_CHECK_FAILED: {
    permanent: true,
    meaning:
      'The restored database differs from the manifest: row counts, schema objects, table contents, sequences, large objects or database settings.',
  },
  RESTORE_EVENT_TRIGGERS: {
    permanent: true,
    meaning:
      'The backup has event triggers that would fire during the restore, and the restoring role may not set session_replication_role to stop them.',
  },
  RESTORE_SWAP_FAILED: {
    permanent: false,
    meaning: 'Swapping the restored database in failed; the old one was kept.',
  },
  RESTORE_ABORTED: { permanent: false, meaning: 'The restore was aborted or timed out.' },
  RESTORE_VERIFICATION_FAILED: {
    permanent: true,
    meaning:
      "The restore test restored the backup and it differs from its manifest; recorded as the manifest's failed `verification`.",
  },
} as const satisfies Record<string, ErrorCodeInfo>;

/** Backup storage (local directory or S3). */
export const STORAGE_ERROR_CODES = {
  STORAGE_NOT_FOUND: { permanent: true, meaning: 'No object under that key.' },
  STORAGE_INVALID_KEY: {
    permanent: true,
    meaning: 'The key is empty, absolute or climbs out of the storage root.',
  },
  STORAGE_UPLOAD_FAILED: { permanent: false, meaning: 'Writing an object failed.' },
  STORAGE_UNAVAILABLE: { permanent: false, meaning: 'The store cannot be reached or refused the request.' },
} as const satisfies Record<string, ErrorCodeInfo>;

export const ERROR_CODES = {
  ...BACKUP_ERROR_CODES,
  ...ENCRYPTION_ERROR_CODES,
  ...RESTORE_ERROR_CODES,
  ...STORAGE_ERROR_CODES,
} as const satisfies Record<string, ErrorCodeInfo>;

export type BackupErrorCode = keyof typeof BACKUP_ERROR_CODES;
export type EncryptionErrorCode = keyof typeof ENCRYPTION_ERROR_CODES;
export type RestoreErrorCode = keyof typeof RESTORE_ERROR_CODES;
export type StorageErrorCode = keyof typeof STORAGE_ERROR_CODES;
export type ErrorCode = keyof typeof ERROR_CODES;
