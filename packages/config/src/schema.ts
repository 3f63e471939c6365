import { TARGET_NAME_PATTERN, TARGET_NAME_RULE } from '@warden/names';
import { z } from 'zod';

/**
 * Environment variables Warden reads, with their defaults. This one schema is the source of truth:
 * `.env.example` and the README's configuration table are checked against it by a test.
 */

/** `z.coerce.boolean()` reads "false" as true, so booleans get a real parser. */
const booleanFlag = (defaultValue: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off', 'TRUE', 'FALSE'], {
      error: 'must be true or false',
    })
    .default(defaultValue ? 'true' : 'false')
    .transform((value) => ['true', '1', 'yes', 'on', 'TRUE'].includes(value));

const integer = (defaultValue: number, min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`)
    .default(defaultValue);

const optionalString = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim()));

const urlWithProtocols = (protocols: string[]) =>
  z.string().refine(
    (value) => {
      try {
        const url = new URL(value);
        return protocols.includes(url.protocol);
      } catch {
        return false;
      }
    },
    { error: `must be a valid URL (${protocols.join(' or ')})` },
  );

const optionalUrl = (protocols: string[]) =>
  z
    .string()
    .optional()
    .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim()))
    .pipe(urlWithProtocols(protocols).optional());

/** Five-field cron (minute hour day month weekday) as BullMQ's cron-parser accepts it. */
export const cronExpression = z
  .string()
  .trim()
  .refine((value) => /^(\S+\s+){4}\S+$/.test(value) || /^(\S+\s+){5}\S+$/.test(value), {
    error: 'must be a cron expression with 5 (or 6) fields, e.g. "0 3 * * *"',
  });

export const timezone = z
  .string()
  .trim()
  .refine(
    (value) => {
      try {
        new Intl.DateTimeFormat('en-US', { timeZone: value });
        return true;
      } catch {
        return false;
      }
    },
    { error: 'must be an IANA time zone such as UTC or Europe/Berlin' },
  );

/** Target names end up in object keys, file names and job ids (one rule, shared with the job payloads). */
export const targetName = z.string().regex(TARGET_NAME_PATTERN, TARGET_NAME_RULE);

/** A duration such as `30m`, `90s`, `2h` or `0`; parsed to milliseconds. */
export const duration = z
  .string()
  .trim()
  .regex(/^(0|\d+(ms|s|m|h))$/, 'must be a duration such as 30m, 90s, 2h or 0')
  .transform((value) => {
    const match = /^(\d+)(ms|s|m|h)?$/.exec(value);
    const amount = Number(match?.[1] ?? 0);
    const unit = match?.[2];
    const factor = unit === 'h' ? 3_600_000 : unit === 'm' ? 60_000 : unit === 's' ? 1_000 : 1;
    return amount * factor;
  });

const apiToken = optionalString.pipe(z.string().min(16, 'must be at least 16 characters').optional());

export const envSchema = z.object({
  SERVICE_NAME: z.string().default('warden'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),
  APP_VERSION: optionalString,

  DATABASE_URL: urlWithProtocols(['postgres:', 'postgresql:']).default(
    'postgres://postgres@127.0.0.1:5432/postgres',
  ),
  BACKUP_ENVIRONMENT: targetName.default('development'),
  WARDEN_CONFIG: optionalString,

  BACKUP_ENABLED: booleanFlag(true),
  BACKUP_SCHEDULE: cronExpression.default('0 3 * * *'),
  BACKUP_TIMEZONE: timezone.default('UTC'),
  BACKUP_RETENTION_DAYS: integer(30, 1),
  BACKUP_KEEP_LAST: integer(1, 1),
  BACKUP_KEEP_DAILY: integer(0, 0),
  BACKUP_KEEP_WEEKLY: integer(0, 0),
  BACKUP_KEEP_MONTHLY: integer(0, 0),
  BACKUP_DIR: z.string().default('./backups'),
  BACKUP_DIR_GROUP_READABLE: booleanFlag(false),
  BACKUP_SPOOL_DIR: z.string().default('./spool'),
  BACKUP_MIN_FREE_MB: integer(256, 0),
  BACKUP_COMPRESSION: z.enum(['gzip', 'zstd']).default('gzip'),
  BACKUP_GZIP_LEVEL: integer(3, 1, 9),
  BACKUP_GZIP_ENGINE: z.enum(['auto', 'igzip', 'pigz', 'zlib']).default('auto'),
  BACKUP_ROW_COUNTS: booleanFlag(true),
  BACKUP_TIMEOUT_MINUTES: integer(360, 1),
  BACKUP_SCHEDULE_SPREAD: duration.default(0),
  BACKUP_SERVER_CONCURRENCY: integer(4, 1, 64),
  PG_DUMP_PATH: z.string().default('pg_dump'),
  PSQL_PATH: z.string().default('psql'),

  UPLOAD_RETRY_ATTEMPTS: integer(3, 0, 100),
  UPLOAD_RETRY_DELAY_MS: integer(300_000, 0),

  BACKUP_S3_BUCKET: optionalString,
  AWS_REGION: optionalString,
  AWS_ACCESS_KEY_ID: optionalString,
  AWS_SECRET_ACCESS_KEY: optionalString,
  S3_ENDPOINT: optionalUrl(['http:', 'https:']),
  S3_FORCE_PATH_STYLE: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .optional()
    .transform((value) => (value === undefined ? undefined : value === 'true')),
  S3_PREFIX: z
    .string()
    .default('')
    .refine((value) => !value.includes('..') && !value.startsWith('/'), {
      error: 'must not start with "/" or contain ".."',
    }),
  S3_SSE: z.enum(['', 'AES256', 'aws:kms']).default(''),
  S3_SSE_KMS_KEY_ID: optionalString,
  S3_CHECKSUM_WHEN_REQUIRED: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .optional()
    .transform((value) => (value === undefined ? undefined : value === 'true')),

  REDIS_URL: urlWithProtocols(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  REDIS_SENTINELS: optionalString,
  REDIS_SENTINEL_NAME: optionalString,
  REDIS_CLUSTER_NODES: optionalString,
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_{}:-]{1,64}$/, 'must be 1-64 characters of letters, digits, "_", "-", ":", "{", "}"')
    .default('warden'),

  PORT: integer(3000, 0, 65535),
  HOST: z.string().default('127.0.0.1'),
  ADMIN_API_TOKEN: apiToken,
  VIEWER_API_TOKEN: apiToken,
  BULL_BOARD_READ_ONLY: booleanFlag(false),
  TRUST_PROXY: optionalString,
  API_RATE_LIMIT_PER_MINUTE: integer(600, 1),
  API_AUTH_FAILURES_PER_MINUTE: integer(30, 1),
  HTTP_REQUEST_TIMEOUT_SECONDS: integer(10, 1, 300),
  HTTP_CONNECTION_TIMEOUT_SECONDS: integer(60, 1, 3600),
  WORKER_METRICS_PORT: integer(9464, 0, 65535),
  WORKER_CONCURRENCY: integer(2, 1, 64),
  RESTORE_CONCURRENCY: integer(1, 1, 16),
  WORKER_LOCK_DURATION_MS: integer(60_000, 1_000),
  WORKER_STALLED_INTERVAL_MS: integer(30_000, 1_000),
  WORKER_SHUTDOWN_GRACE_MS: integer(25_000, 0),

  SLACK_WEBHOOK_URL: optionalUrl(['https:', 'http:']),
  SLACK_DEFAULT_CHANNEL: optionalString,
  SLACK_BOT_NAME: z.string().default('Warden'),
  ALERT_THROTTLE_SECONDS: integer(600, 0),
  QUEUE_LENGTH_THRESHOLD: integer(100, 1),
  DISK_WARNING_PERCENT: integer(80, 1, 100),
  DISK_CRITICAL_PERCENT: integer(90, 1, 100),
  PROBE_INTERVAL_SECONDS: integer(60, 5),
  PROBE_CONCURRENCY: integer(10, 1, 50),
  PROBE_TIMEOUT_MS: integer(3_000, 100, 60_000),
  ALERT_AFTER_FAILURES: integer(2, 1, 100),
  ALERT_RESOLVE_AFTER: integer(3, 1, 100),
  SLACK_SUCCESS_MODE: z.enum(['each', 'digest', 'off']).default('each'),
  DEADMAN_START_URL: optionalUrl(['https:', 'http:']),
  DEADMAN_SUCCESS_URL: optionalUrl(['https:', 'http:']),
  DEADMAN_FAIL_URL: optionalUrl(['https:', 'http:']),

  SENTRY_DSN: optionalUrl(['https:', 'http:']),
  SENTRY_ENVIRONMENT: optionalString,
  SENTRY_TRACES_SAMPLE_RATE: z.coerce.number({ error: 'must be a number' }).min(0).max(1).default(0),

  ENABLE_PROMETHEUS: booleanFlag(true),
  PROMETHEUS_PREFIX: z
    .string()
    .regex(/^([a-zA-Z_][a-zA-Z0-9_]*)?$/, 'must be a valid Prometheus metric name prefix')
    .default('warden_'),

  RESTORE_VERIFY_ENABLED: booleanFlag(true),
  RESTORE_VERIFY_SCHEDULE: cronExpression.default('0 5 * * 0'),
  BACKUP_ENCRYPTION_KEY: optionalString,
});

export type WardenEnv = z.output<typeof envSchema>;

/** One target as written in a `WARDEN_CONFIG` file. */
export const targetFileEntrySchema = z
  .object({
    name: targetName,
    environment: targetName.optional(),
    url: urlWithProtocols(['postgres:', 'postgresql:']),
    schedule: cronExpression.optional(),
    timezone: timezone.optional(),
    retentionDays: z.number().int().min(1).optional(),
    keepLast: z.number().int().min(1).optional(),
    keepDaily: z.number().int().min(0).optional(),
    keepWeekly: z.number().int().min(0).optional(),
    keepMonthly: z.number().int().min(0).optional(),
    enabled: z.boolean().optional(),
    /** Dead-man ping URLs of this target, replacing the global `DEADMAN_*_URL` ones. */
    deadman: z
      .object({
        start: urlWithProtocols(['https:', 'http:']).optional(),
        success: urlWithProtocols(['https:', 'http:']).optional(),
        fail: urlWithProtocols(['https:', 'http:']).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export const targetsFileSchema = z
  .object({
    targets: z.array(targetFileEntrySchema).min(1, 'must list at least one target'),
  })
  .strict();
