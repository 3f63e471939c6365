import type { WardenEnv } from './schema.js';

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
