import { DATABASE_NAME_RULE, isDatabaseName, TARGET_NAME_PATTERN, TARGET_NAME_RULE } from '@warden/names';
import { z } from 'zod';

/**
 * Queue and job names, and the payload of every job, defined once for producer and worker alike.
 * Importing this module starts nothing.
 */
export const QUEUE_NAMES = {
  backups: 'backups',
  restores: 'restores',
  probes: 'probes',
} as const;
export type QueueName = (typeof QUEUE_NAMES)[keyof typeof QUEUE_NAMES];
export const ALL_QUEUE_NAMES: readonly QueueName[] = Object.values(QUEUE_NAMES);

export const JOB_NAMES = {
  backupCreate: 'backup.create',
  restoreRun: 'restore.run',
  restoreVerify: 'restore.verify',
  probesRun: 'probes.run',
} as const;

/** Scheduler ids are derived from the target so that an upsert replaces, never duplicates. */
export const schedulerIds = {
  backup: (target: string) => `backup:${target}`,
  restoreVerify: (target: string) => `restore-verify:${target}`,
  probes: 'probes',
} as const;

/** The configuration checks target names by the same rule, so a target that loads is one whose jobs are accepted. */
const targetName = z.string().regex(TARGET_NAME_PATTERN, TARGET_NAME_RULE);
/** Any name PostgreSQL accepts; it only ever reaches SQL quoted as an identifier. */
const databaseName = z.string().refine(isDatabaseName, { error: DATABASE_NAME_RULE });
const BACKUP_FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,250}$/;

export const jobTrigger = z.enum(['schedule', 'api', 'cli', 'verify']);
export type JobTrigger = z.infer<typeof jobTrigger>;

export const backupFileName = z
  .string()
  .regex(BACKUP_FILE_NAME, 'must be a plain file name (letters, digits, ".", "_", "-"; no "/" or "..")')
  .refine((value) => !value.includes('..'), { error: 'must not contain ".."' });

/**
 * The upload step of a backup whose dump is spooled and waits for a retry. References only: the
 * worker derives the spool path from its own spool directory, the target and `file`, and reads the
 * manifest from the record it wrote beside the spool file. Anyone who can add a job (Bull Board,
 * Redis) could write a path or a manifest here, so none is accepted.
 */
const backupUploadStateSchema = z
  .object({
    /** File name of the spooled backup; must match the target's naming pattern. */
    file: backupFileName,
    /** Host that holds the spool file; another host cannot retry this upload. */
    host: z.string().max(255),
    /** Upload attempts made so far. */
    attempts: z.number().int().min(0).max(1000),
    lastError: z.string().max(500).optional(),
  })
  .strict();
export type BackupUploadState = z.output<typeof backupUploadStateSchema>;

/**
 * What a producer sends. The worker adds `upload` to the job's data when the dump is spooled and
 * the upload has to wait for a retry, so a retry never dumps again.
 */
export const backupJobSchema = z
  .object({
    target: targetName,
    reason: z.string().max(200).optional(),
    trigger: jobTrigger.default('api'),
    upload: backupUploadStateSchema.optional(),
  })
  .strict();
export type BackupJobData = z.input<typeof backupJobSchema>;
export type BackupJobPayload = z.output<typeof backupJobSchema>;

export const restoreJobSchema = z
  .object({
    target: targetName,
    /** A backup file name, or "latest" for the newest good backup of the target. */
    file: z.union([z.literal('latest'), backupFileName]),
    /** Database to restore into; default a new `<database>_restore_<timestamp>`. */
    database: databaseName.optional(),
    overwrite: z.boolean().default(false),
    dryRun: z.boolean().default(false),
    trigger: jobTrigger.default('api'),
  })
  .strict();
export type RestoreJobData = z.input<typeof restoreJobSchema>;
export type RestoreJobPayload = z.output<typeof restoreJobSchema>;

export const restoreVerifyJobSchema = z
  .object({
    target: targetName,
    trigger: jobTrigger.default('schedule'),
  })
  .strict();
export type RestoreVerifyJobData = z.input<typeof restoreVerifyJobSchema>;

export const probesJobSchema = z.object({}).strict();
export type ProbesJobData = z.input<typeof probesJobSchema>;

/** The backup result (docs/architecture.md#backup-result) a backup job returns and the CLI prints. */
export interface BackupJobResult {
  status: 'success';
  filename: string;
  size_mb: number;
  target: string;
  environment: string;
  bytes: number;
  sha256: string;
  duration_ms: number;
  location: string;
  [extra: string]: unknown;
}
