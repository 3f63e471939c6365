import type { BackupCatalog } from '@warden/catalog';
import type { WardenConfig } from '@warden/config';
import type { Logger } from '@warden/logging';
import type { AlertRecord } from '@warden/notify';
import type { HealthReport } from '@warden/probes';
import type { RedisConnection } from '@warden/queue';
import type { BackupStorage } from '@warden/storage';
import type { Queue } from 'bullmq';
import type { ServerErrorReporter } from './plugins/error-handler.js';
import type { ApiMetrics } from './plugins/http-metrics.js';

export interface WardenQueues {
  backups: Queue;
  restores: Queue;
  probes: Queue;
}

/** What `buildApp` needs; `main.ts` builds the real ones, tests pass fakes or real ones. */
export interface AppDeps {
  config: WardenConfig;
  /** Passed to Fastify as `loggerInstance` (Fastify 5). */
  logger: Logger;
  /** Producer-side queues (prefix `config.redis.queuePrefix`); left open by `app.close()`. */
  queues: WardenQueues;
  storage: BackupStorage;
  catalog: BackupCatalog;
  health: { detailed(): Promise<HealthReport> };
  /** Absent, or `config.metrics.enabled` false: no HTTP metrics and `/metrics` answers 404. */
  metrics?: ApiMetrics | undefined;
  /**
   * Holds the rate-limit counters under `QUEUE_PREFIX`, so every API process shares them; left
   * open. Absent: each process counts on its own.
   */
  redis?: RedisConnection | undefined;
  /** The recent alerts every process sent (`GET /api/admin/alerts`); absent: an empty list. */
  alerts?: { recent(limit: number): Promise<AlertRecord[]> } | undefined;
  /** Told about every 5xx answer (Sentry); absent in most tests. */
  errorReporter?: ServerErrorReporter | undefined;
}

/** Knobs for tests and the benchmark; production uses the defaults. */
export interface BuildAppOptions {
  /**
   * Answer a second backup request for a target with the job already waiting or running.
   * Only the benchmark turns this off, to measure enqueueing itself.
   * @defaultValue true
   */
  deduplicateBackups?: boolean;
  /**
   * Largest request body accepted; admin bodies are a few hundred bytes.
   * @defaultValue 65536
   */
  bodyLimit?: number;
  /**
   * A directory holding a prebuilt `console.js` and `console.css` (a build step's output); without
   * one the console is bundled from its sources on first use.
   */
  consoleAssetsDir?: string | undefined;
}
