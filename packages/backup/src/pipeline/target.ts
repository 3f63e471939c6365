/**
 * What the pipeline needs to know about a backup target. Structural, so the config package's
 * `BackupTarget` satisfies it without this package importing config.
 */
export interface BackupTargetSpec {
  /** Unique name; storage keys live under `<name>/`. */
  name: string;
  /** The `{environment}` of the backup file name (docs/architecture.md#backup-names). */
  environment: string;
  /** Connection URL including the password: a secret, never logged or put in a message. */
  databaseUrl: string;
  /** The `{database}` of the backup file name. */
  database: string;
  retentionDays: number;
  keepLast: number;
}
