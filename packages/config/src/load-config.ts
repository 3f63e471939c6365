import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { databaseNameOfUrl, databaseNameProblem, databaseNameSlug, isTargetName } from '@warden/names';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { envSchema, targetsFileSchema, type WardenEnv } from './schema.js';

export interface BackupTarget {
  /** Unique name; keys in storage live under `<name>/`. */
  name: string;
  environment: string;
  /** Connection URL, password included: a secret, never logged. */
  databaseUrl: string;
  /** Database name taken from the URL; the `{database}` of the backup file name. */
  database: string;
  schedule: string;
  timezone: string;
  retentionDays: number;
  keepLast: number;
  /**
   * Grandfather-father-son: also keep the newest backup of each of the last N days / ISO weeks /
   * months that have backups. `loadConfig` always sets them. @defaultValue 0 (off)
   */
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  enabled: boolean;
  /** Dead-man ping URLs (the target's own, else the global ones); secrets, like any URL with a token. */
  deadman?: { start?: string | undefined; success?: string | undefined; fail?: string | undefined };
}

export type StorageConfig =
  | { kind: 'local'; dir: string; groupReadable: boolean }
  | {
      kind: 's3';
      bucket: string;
      region: string;
      accessKeyId: string | undefined;
      secretAccessKey: string | undefined;
      endpoint: string | undefined;
      forcePathStyle: boolean;
      prefix: string;
      serverSideEncryption: 'AES256' | 'aws:kms' | undefined;
      kmsKeyId: string | undefined;
      /** Only send/validate checksums when the operation requires them (docs/architecture.md#library-traps). */
      checksumWhenRequired: boolean;
    };

export interface RedisConfig {
  url: string;
  sentinels: { host: string; port: number }[] | undefined;
  sentinelName: string | undefined;
  clusterNodes: { host: string; port: number }[] | undefined;
  queuePrefix: string;
}

export interface HttpConfig {
  port: number;
  host: string;
  /** Full access to the admin surface. Without it, only loopback clients are served. */
  adminApiToken: string | undefined;
  /** Read-only access: GET routes, the docs and a read-only Bull Board. Needs `adminApiToken`. */
  viewerApiToken: string | undefined;
  bullBoardReadOnly: boolean;
  /** Addresses or CIDRs (or `loopback`, `linklocal`, `uniquelocal`) whose X-Forwarded-For is believed. */
  trustProxy: string[];
  /** Authenticated requests per client address and minute. */
  rateLimitPerMinute: number;
  /** Failed authentications per client address and minute before further failures get 429. */
  authFailuresPerMinute: number;
  /** The whole request (headers and body) must arrive within this. */
  requestTimeoutMs: number;
  /** A connection with no traffic for this long is closed. */
  connectionTimeoutMs: number;
}

export interface WardenConfig {
  serviceName: string;
  logLevel: WardenEnv['LOG_LEVEL'];
  /** `auto`: readable lines on a terminal, JSON lines otherwise; `json` forces JSON lines. */
  logFormat: WardenEnv['LOG_FORMAT'];
  release: string;
  targets: BackupTarget[];
  backup: {
    enabled: boolean;
    spoolDir: string;
    minFreeBytes: number;
    compression: 'gzip' | 'zstd';
    gzipLevel: number;
    gzipEngine: WardenEnv['BACKUP_GZIP_ENGINE'];
    rowCounts: boolean;
    timeoutMs: number;
    pgDumpPath: string;
    psqlPath: string;
    uploadRetryAttempts: number;
    uploadRetryDelayMs: number;
    encryptionKey: string | undefined;
    /** Targets sharing a cron start spread over this window, each at its own fixed offset. */
    scheduleSpreadMs: number;
    /** Dumps at once against one database server (host:port), across every worker. */
    serverConcurrency: number;
  };
  restoreVerify: { enabled: boolean; schedule: string };
  storage: StorageConfig;
  redis: RedisConfig;
  http: HttpConfig;
  worker: {
    metricsPort: number;
    concurrency: number;
    /** Restores and restore tests one worker process runs at once. */
    restoreConcurrency: number;
    /** How long a job lock lives without renewal; a dead worker's job is recovered after it. */
    lockDurationMs: number;
    /** How often workers look for stalled jobs (those whose lock expired). */
    stalledIntervalMs: number;
    /** How long shutdown lets running jobs finish before handing them back. */
    shutdownGraceMs: number;
  };
  slack: { webhookUrl: string | undefined; channel: string | undefined; botName: string };
  alerts: {
    throttleSeconds: number;
    queueLengthThreshold: number;
    diskWarningPercent: number;
    diskCriticalPercent: number;
    probeIntervalSeconds: number;
    /** Database probes open at most this many connections at once. */
    probeConcurrency: number;
    /** Connect and statement timeout of each probe. */
    probeTimeoutMs: number;
    /** Consecutive failing probe cycles before a condition alerts. */
    afterFailures: number;
    /** Consecutive passing probe cycles before an alerted condition resolves. */
    resolveAfter: number;
    /** What happens with backup success messages. */
    successMode: 'each' | 'digest' | 'off';
  };
  /** Dead-man pings to an outside monitor (healthchecks.io style); each optional. */
  deadman: { startUrl: string | undefined; successUrl: string | undefined; failUrl: string | undefined };
  sentry: { dsn: string | undefined; environment: string; tracesSampleRate: number };
  metrics: { enabled: boolean; prefix: string };
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'WARDEN_CONFIG_INVALID';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
  }
}

export interface LoadConfigOptions {
  /** Where relative paths (BACKUP_DIR, WARDEN_CONFIG, …) are resolved from. @defaultValue process.cwd() */
  cwd?: string;
  /** Version used when APP_VERSION is not set (usually package.json's). */
  defaultRelease?: string;
}

type Env = Record<string, string | undefined>;

function formatIssues(issues: z.core.$ZodIssue[], prefix = ''): string[] {
  return issues.map((issue) => {
    const where = [prefix.trim(), ...issue.path.map(String)].filter(Boolean).join('.');
    return `${where || 'config'}: ${issue.message}`;
  });
}

function parseHostList(value: string | undefined, variable: string, problems: string[]) {
  if (value === undefined) return undefined;
  return value.split(',').map((entry) => {
    const [host, port] = entry.trim().split(':');
    const portNumber = Number(port ?? '');
    if (!host || !Number.isInteger(portNumber) || portNumber <= 0 || portNumber > 65535) {
      problems.push(`${variable}: "${entry.trim()}" is not host:port`);
    }
    return { host: host ?? '', port: portNumber };
  });
}

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const URL_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/**
 * Replaces `${NAME}` with the environment's value in the string values of a parsed targets file,
 * so passwords can stay out of the file. It runs after parsing, on string values only (never on
 * keys, numbers or booleans), so no value can add a key, a target or any other structure.
 *
 * Inside a URL (a value starting with `scheme://`), a reference that is only part of the value is
 * percent-encoded: a password holding `@`, `#`, `:`, `/`, quotes or a newline reaches the server
 * exactly as the variable holds it. A reference that is the whole value is used as it is (the
 * variable then holds the whole URL).
 */
function interpolateEnv(value: unknown, env: Env, problems: string[], file: string): unknown {
  if (typeof value === 'string') return interpolateString(value, env, problems, file);
  if (Array.isArray(value)) return value.map((item) => interpolateEnv(item, env, problems, file));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, interpolateEnv(item, env, problems, file)]),
    );
  }
  return value;
}

function interpolateString(text: string, env: Env, problems: string[], file: string): string {
  const insideUrl = URL_SCHEME.test(text);
  return text.replace(REFERENCE, (match, name: string) => {
    const value = env[name];
    if (value === undefined) {
      problems.push(`WARDEN_CONFIG (${file}): references \${${name}} which is not set`);
      return '';
    }
    return insideUrl && match !== text ? encodeURIComponent(value) : value;
  });
}

const PROXY_ADDRESS_KEYWORDS = ['loopback', 'linklocal', 'uniquelocal'];

/** `TRUST_PROXY`: comma-separated IP addresses, CIDRs or proxy-addr's keywords. */
function parseTrustedProxies(value: string | undefined, problems: string[]): string[] {
  if (value === undefined) return [];
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  for (const entry of entries) {
    if (PROXY_ADDRESS_KEYWORDS.includes(entry)) continue;
    const [address = '', bits, extra] = entry.split('/');
    const family = isIP(address);
    const maxBits = family === 6 ? 128 : 32;
    const validBits =
      bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) >= 0 && Number(bits) <= maxBits);
    if (family === 0 || !validBits || extra !== undefined) {
      problems.push(
        `TRUST_PROXY: "${entry}" is not an IP address, a CIDR (10.0.0.0/8) or one of ${PROXY_ADDRESS_KEYWORDS.join(', ')}`,
      );
    }
  }
  return entries;
}

/**
 * Parses variable by variable so one bad value does not hide the others: a failing variable is
 * reported and replaced by its default, and the cross-variable checks still run.
 */
function parseEachVariable(env: Env, problems: string[]): WardenEnv {
  const values: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(envSchema.shape)) {
    // An empty value (`FOO=` in an env file) means "not set", as in the shipped .env.example.
    const raw = env[name] === '' ? undefined : env[name];
    const result = (schema as z.ZodType).safeParse(raw);
    if (result.success) {
      values[name] = result.data;
    } else {
      problems.push(...formatIssues(result.error.issues, name));
      const fallback = (schema as z.ZodType).safeParse(undefined);
      values[name] = fallback.success ? fallback.data : undefined;
    }
  }
  return values as WardenEnv;
}

/**
 * Parses the environment into a typed configuration. Pure apart from reading the targets file:
 * every problem is collected and reported at once in a {@link ConfigError}.
 */
export function loadConfig(env: Env, options: LoadConfigOptions = {}): WardenConfig {
  const cwd = options.cwd ?? process.cwd();
  const problems: string[] = [];
  const e = parseEachVariable(env, problems);

  const targets: BackupTarget[] = [];
  if (e.WARDEN_CONFIG !== undefined) {
    const file = path.resolve(cwd, e.WARDEN_CONFIG);
    let raw: unknown;
    try {
      const text = readFileSync(file, 'utf8');
      const parsed: unknown = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
      raw = interpolateEnv(parsed, env, problems, e.WARDEN_CONFIG);
    } catch (error) {
      const reason =
        (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : 'cannot be parsed';
      problems.push(`WARDEN_CONFIG: ${e.WARDEN_CONFIG} ${reason}`);
    }
    if (raw !== undefined) {
      const file = targetsFileSchema.safeParse(raw);
      if (!file.success) {
        problems.push(...formatIssues(file.error.issues, 'WARDEN_CONFIG '));
      } else {
        for (const entry of file.data.targets) {
          targets.push({
            name: entry.name,
            environment: entry.environment ?? e.BACKUP_ENVIRONMENT,
            databaseUrl: entry.url,
            database: databaseNameOfUrl(entry.url),
            schedule: entry.schedule ?? e.BACKUP_SCHEDULE,
            timezone: entry.timezone ?? e.BACKUP_TIMEZONE,
            retentionDays: entry.retentionDays ?? e.BACKUP_RETENTION_DAYS,
            keepLast: entry.keepLast ?? e.BACKUP_KEEP_LAST,
            keepDaily: entry.keepDaily ?? e.BACKUP_KEEP_DAILY,
            keepWeekly: entry.keepWeekly ?? e.BACKUP_KEEP_WEEKLY,
            keepMonthly: entry.keepMonthly ?? e.BACKUP_KEEP_MONTHLY,
            enabled: entry.enabled ?? true,
            deadman: {
              start: entry.deadman?.start ?? e.DEADMAN_START_URL,
              success: entry.deadman?.success ?? e.DEADMAN_SUCCESS_URL,
              fail: entry.deadman?.fail ?? e.DEADMAN_FAIL_URL,
            },
          });
        }
      }
    }
  } else {
    const database = databaseNameOfUrl(e.DATABASE_URL);
    targets.push({
      // Named after the database; a name that cannot be a storage key or job id gets its slug.
      name: databaseNameSlug(database),
      environment: e.BACKUP_ENVIRONMENT,
      databaseUrl: e.DATABASE_URL,
      database,
      schedule: e.BACKUP_SCHEDULE,
      timezone: e.BACKUP_TIMEZONE,
      retentionDays: e.BACKUP_RETENTION_DAYS,
      keepLast: e.BACKUP_KEEP_LAST,
      keepDaily: e.BACKUP_KEEP_DAILY,
      keepWeekly: e.BACKUP_KEEP_WEEKLY,
      keepMonthly: e.BACKUP_KEEP_MONTHLY,
      enabled: true,
      deadman: { start: e.DEADMAN_START_URL, success: e.DEADMAN_SUCCESS_URL, fail: e.DEADMAN_FAIL_URL },
    });
  }

  const seen = new Set<string>();
  for (const target of targets) {
    const source = e.WARDEN_CONFIG !== undefined ? `WARDEN_CONFIG target "${target.name}"` : 'DATABASE_URL';
    const problem = databaseNameProblem(target.database);
    if (problem !== undefined) {
      problems.push(`${source}: ${target.database === '' ? 'the URL must name a database' : problem}`);
    }
    if (!isTargetName(target.name)) problems.push(`${source}: invalid target name "${target.name}"`);
    if (seen.has(target.name)) problems.push(`${source}: duplicate target name`);
    seen.add(target.name);
  }

  let storage: StorageConfig;
  if (e.BACKUP_S3_BUCKET !== undefined) {
    if (e.AWS_REGION === undefined) problems.push('AWS_REGION: required when BACKUP_S3_BUCKET is set');
    if ((e.AWS_ACCESS_KEY_ID === undefined) !== (e.AWS_SECRET_ACCESS_KEY === undefined)) {
      problems.push('AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY: set both or neither');
    }
    if (e.S3_SSE_KMS_KEY_ID !== undefined && e.S3_SSE !== 'aws:kms') {
      problems.push('S3_SSE_KMS_KEY_ID: only valid with S3_SSE=aws:kms');
    }
    const customEndpoint = e.S3_ENDPOINT !== undefined;
    storage = {
      kind: 's3',
      bucket: e.BACKUP_S3_BUCKET,
      region: e.AWS_REGION ?? '',
      accessKeyId: e.AWS_ACCESS_KEY_ID,
      secretAccessKey: e.AWS_SECRET_ACCESS_KEY,
      endpoint: e.S3_ENDPOINT,
      forcePathStyle: e.S3_FORCE_PATH_STYLE ?? customEndpoint,
      prefix: e.S3_PREFIX === '' || e.S3_PREFIX.endsWith('/') ? e.S3_PREFIX : `${e.S3_PREFIX}/`,
      serverSideEncryption: e.S3_SSE === '' ? undefined : e.S3_SSE,
      kmsKeyId: e.S3_SSE_KMS_KEY_ID,
      checksumWhenRequired: e.S3_CHECKSUM_WHEN_REQUIRED ?? customEndpoint,
    };
  } else {
    storage = {
      kind: 'local',
      dir: path.resolve(cwd, e.BACKUP_DIR),
      groupReadable: e.BACKUP_DIR_GROUP_READABLE,
    };
  }

  if (e.DISK_WARNING_PERCENT >= e.DISK_CRITICAL_PERCENT) {
    problems.push('DISK_WARNING_PERCENT: must be lower than DISK_CRITICAL_PERCENT');
  }
  if (e.REDIS_SENTINELS !== undefined && e.REDIS_SENTINEL_NAME === undefined) {
    problems.push('REDIS_SENTINEL_NAME: required when REDIS_SENTINELS is set');
  }
  const sentinels = parseHostList(e.REDIS_SENTINELS, 'REDIS_SENTINELS', problems);
  const clusterNodes = parseHostList(e.REDIS_CLUSTER_NODES, 'REDIS_CLUSTER_NODES', problems);
  if (sentinels && clusterNodes) problems.push('REDIS_SENTINELS / REDIS_CLUSTER_NODES: choose one');
  if (clusterNodes && !/\{.+\}/.test(e.QUEUE_PREFIX)) {
    problems.push('QUEUE_PREFIX: must contain a hash tag such as "{warden}" when REDIS_CLUSTER_NODES is set');
  }
  if (e.BACKUP_ENCRYPTION_KEY !== undefined && !/^[0-9a-fA-F]{64}$/.test(e.BACKUP_ENCRYPTION_KEY)) {
    problems.push('BACKUP_ENCRYPTION_KEY: must be 64 hex characters (32 bytes)');
  }

  if (e.VIEWER_API_TOKEN !== undefined && e.ADMIN_API_TOKEN === undefined) {
    problems.push(
      'VIEWER_API_TOKEN: needs ADMIN_API_TOKEN (without an admin token every loopback client has full access, so a read-only token would restrict nothing)',
    );
  }
  if (e.VIEWER_API_TOKEN !== undefined && e.VIEWER_API_TOKEN === e.ADMIN_API_TOKEN) {
    problems.push('VIEWER_API_TOKEN: must differ from ADMIN_API_TOKEN');
  }
  const trustProxy = parseTrustedProxies(e.TRUST_PROXY, problems);

  if (problems.length > 0) throw new ConfigError(problems);

  return {
    serviceName: e.SERVICE_NAME,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    release: e.APP_VERSION ?? options.defaultRelease ?? '0.0.0',
    targets,
    backup: {
      enabled: e.BACKUP_ENABLED,
      spoolDir: path.resolve(cwd, e.BACKUP_SPOOL_DIR),
      minFreeBytes: e.BACKUP_MIN_FREE_MB * 1024 * 1024,
      compression: e.BACKUP_COMPRESSION,
      gzipLevel: e.BACKUP_GZIP_LEVEL,
      gzipEngine: e.BACKUP_GZIP_ENGINE,
      rowCounts: e.BACKUP_ROW_COUNTS,
      timeoutMs: e.BACKUP_TIMEOUT_MINUTES * 60_000,
      pgDumpPath: e.PG_DUMP_PATH,
      psqlPath: e.PSQL_PATH,
      uploadRetryAttempts: e.UPLOAD_RETRY_ATTEMPTS,
      uploadRetryDelayMs: e.UPLOAD_RETRY_DELAY_MS,
      encryptionKey: e.BACKUP_ENCRYPTION_KEY,
      scheduleSpreadMs: e.BACKUP_SCHEDULE_SPREAD,
      serverConcurrency: e.BACKUP_SERVER_CONCURRENCY,
    },
    restoreVerify: { enabled: e.RESTORE_VERIFY_ENABLED, schedule: e.RESTORE_VERIFY_SCHEDULE },
    storage,
    redis: {
      url: e.REDIS_URL,
      sentinels,
      sentinelName: e.REDIS_SENTINEL_NAME,
      clusterNodes,
      queuePrefix: e.QUEUE_PREFIX,
    },
    http: {
      port: e.PORT,
      host: e.HOST,
      adminApiToken: e.ADMIN_API_TOKEN,
      viewerApiToken: e.VIEWER_API_TOKEN,
      bullBoardReadOnly: e.BULL_BOARD_READ_ONLY,
      trustProxy,
      rateLimitPerMinute: e.API_RATE_LIMIT_PER_MINUTE,
      authFailuresPerMinute: e.API_AUTH_FAILURES_PER_MINUTE,
      requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_SECONDS * 1000,
      connectionTimeoutMs: e.HTTP_CONNECTION_TIMEOUT_SECONDS * 1000,
    },
    worker: {
      metricsPort: e.WORKER_METRICS_PORT,
      concurrency: e.WORKER_CONCURRENCY,
      restoreConcurrency: e.RESTORE_CONCURRENCY,
      lockDurationMs: e.WORKER_LOCK_DURATION_MS,
      stalledIntervalMs: e.WORKER_STALLED_INTERVAL_MS,
      shutdownGraceMs: e.WORKER_SHUTDOWN_GRACE_MS,
    },
    slack: { webhookUrl: e.SLACK_WEBHOOK_URL, channel: e.SLACK_DEFAULT_CHANNEL, botName: e.SLACK_BOT_NAME },
    alerts: {
      throttleSeconds: e.ALERT_THROTTLE_SECONDS,
      queueLengthThreshold: e.QUEUE_LENGTH_THRESHOLD,
      diskWarningPercent: e.DISK_WARNING_PERCENT,
      diskCriticalPercent: e.DISK_CRITICAL_PERCENT,
      probeIntervalSeconds: e.PROBE_INTERVAL_SECONDS,
      probeConcurrency: e.PROBE_CONCURRENCY,
      probeTimeoutMs: e.PROBE_TIMEOUT_MS,
      afterFailures: e.ALERT_AFTER_FAILURES,
      resolveAfter: e.ALERT_RESOLVE_AFTER,
      successMode: e.SLACK_SUCCESS_MODE,
    },
    deadman: {
      startUrl: e.DEADMAN_START_URL,
      successUrl: e.DEADMAN_SUCCESS_URL,
      failUrl: e.DEADMAN_FAIL_URL,
    },
    sentry: {
      dsn: e.SENTRY_DSN,
      environment: e.SENTRY_ENVIRONMENT ?? e.BACKUP_ENVIRONMENT,
      tracesSampleRate: e.SENTRY_TRACES_SAMPLE_RATE,
    },
    metrics: { enabled: e.ENABLE_PROMETHEUS, prefix: e.PROMETHEUS_PREFIX },
  };
}
