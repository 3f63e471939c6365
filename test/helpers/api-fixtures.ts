import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import {
  type BackupManifest,
  backupFileName,
  dumpKeyFor,
  listBackups,
  MANIFEST_FORMAT_VERSION,
  sizeMb,
  writeManifest,
} from '@warden/catalog';
import { type BackupTarget, loadConfig, type WardenConfig } from '@warden/config';
import { createLogger, type Logger } from '@warden/logging';
import { createMetrics, type WardenMetrics } from '@warden/metrics';
import type { HealthReport } from '@warden/probes';
import { createRedisConnection, QUEUE_NAMES, type RedisConnection } from '@warden/queue';
import { type BackupStorage, createLocalStorage } from '@warden/storage';
import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../apps/api/src/app.js';
import type { AppDeps, BuildAppOptions, WardenQueues } from '../../apps/api/src/deps.js';
import { uniquePrefix } from './test-run.js';

export { uniquePrefix };

export const REDIS_URL = 'redis://127.0.0.1:6379';
export const TEST_TOKEN = 'test-admin-token-0123456789abcdef';

/** A target as `loadConfig` would build it; only the name is required. */
export function makeTarget(name: string, overrides: Partial<BackupTarget> = {}): BackupTarget {
  return {
    name,
    environment: 'test',
    databaseUrl: `postgres://warden:s3cret-pass@127.0.0.1:5432/${name}`,
    database: name,
    schedule: '0 3 * * *',
    timezone: 'UTC',
    retentionDays: 30,
    keepLast: 1,
    enabled: true,
    ...overrides,
  };
}

/** A real configuration from `loadConfig`, with the given environment and targets. */
export function makeConfig(options: {
  env?: Record<string, string>;
  targets?: BackupTarget[];
  queuePrefix: string;
  token?: string | undefined;
}): WardenConfig {
  const config = loadConfig({
    REDIS_URL,
    QUEUE_PREFIX: options.queuePrefix,
    ...(options.token === undefined ? {} : { ADMIN_API_TOKEN: options.token }),
    ...options.env,
  });
  if (options.targets) config.targets = options.targets;
  return config;
}

/** Collects log lines in memory, so tests can check that nothing secret was logged. */
export function createMemoryLogger(secrets: readonly string[] = []): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(chunk.toString());
      callback();
    },
  });
  return {
    logger: createLogger({ service: 'warden-api-test', level: 'debug', secrets, destination }),
    lines,
  };
}

export interface TestQueues {
  queues: WardenQueues;
  connection: RedisConnection;
  /** Removes every key of the prefix and closes the queues and the connection. */
  cleanup(): Promise<void>;
}

export function createTestQueues(prefix: string): TestQueues {
  const connection = createRedisConnection({ url: REDIS_URL, role: 'producer', connectionName: prefix });
  connection.on('error', () => undefined);
  const make = (name: string) => {
    const queue = new Queue(name, { connection, prefix });
    queue.on('error', () => undefined);
    return queue;
  };
  const queues: WardenQueues = {
    backups: make(QUEUE_NAMES.backups),
    restores: make(QUEUE_NAMES.restores),
    probes: make(QUEUE_NAMES.probes),
  };
  return {
    queues,
    connection,
    async cleanup() {
      await Promise.all(Object.values(queues).map((queue) => queue.close()));
      await deleteKeys(connection, prefix);
      await connection.quit();
    },
  };
}

/** Deletes every Redis key under a prefix (queues, deduplication keys, scheduler data). */
export async function deleteKeys(connection: RedisConnection, prefix: string): Promise<void> {
  if (!('scanStream' in connection)) return;
  // A fail-fast (producer) client refuses commands until it is connected.
  await reconnect(connection);
  const stream = connection.scanStream({ match: `${prefix}:*`, count: 500 });
  for await (const keys of stream as AsyncIterable<string[]>) {
    if (keys.length > 0) await connection.del(...keys);
  }
}

/** Reopens a connection a test closed on purpose, waiting until it can take commands. */
export async function reconnect(connection: RedisConnection): Promise<void> {
  const settle = async (statuses: string[]) => {
    const deadline = Date.now() + 5_000;
    while (!statuses.includes(connection.status) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  await settle(['end', 'ready']);
  if (connection.status === 'end') await connection.connect();
  await settle(['ready']);
}

/** A valid manifest for a backup of `target` started at `startedAt`. */
export function makeManifest(target: BackupTarget, startedAt: Date, storage: BackupStorage): BackupManifest {
  const filename = backupFileName(target.database, target.environment, startedAt);
  const key = dumpKeyFor(target.name, filename);
  const bytes = 1_234_567;
  return {
    formatVersion: MANIFEST_FORMAT_VERSION,
    status: 'success',
    target: target.name,
    environment: target.environment,
    database: target.database,
    filename,
    key,
    bytes,
    size_mb: sizeMb(bytes),
    sha256: randomBytes(32).toString('hex'),
    sql_bytes: bytes * 4,
    compression: 'gzip',
    started_at: startedAt.toISOString(),
    finished_at: new Date(startedAt.getTime() + 5_000).toISOString(),
    duration_ms: 5_000,
    location: storage.describe(key),
    server_version: '15.14',
    pg_dump_version: '15.14',
    host: 'test-host',
    trigger: 'schedule',
    row_counts: { 'public.items': 42 },
  };
}

/** Stores a dump placeholder and its manifest, as a finished backup would. */
export async function storeBackup(storage: BackupStorage, manifest: BackupManifest): Promise<void> {
  await storage.putBytes(manifest.key, Buffer.from('not really gzip'));
  await writeManifest(storage, manifest);
}

export interface ApiFixture {
  app: FastifyInstance;
  config: WardenConfig;
  queues: WardenQueues;
  connection: RedisConnection;
  storage: BackupStorage;
  metrics: WardenMetrics;
  prefix: string;
  logLines: string[];
  /** What `GET /health/detailed` will answer; tests change it. */
  health: { report: HealthReport | Error };
  close(): Promise<void>;
}

export interface ApiFixtureOptions {
  name: string;
  targets?: BackupTarget[];
  env?: Record<string, string>;
  /** `null`: no ADMIN_API_TOKEN. @defaultValue TEST_TOKEN */
  token?: string | null;
  appOptions?: BuildAppOptions;
  /** Queues to give the app instead of the fixture's own (e.g. ones whose Redis is gone). */
  queues?: WardenQueues;
  /** The recent-alerts source of `GET /api/admin/alerts`. */
  alerts?: AppDeps['alerts'];
  /** Storage to serve instead of a fresh local directory (e.g. s3rver, or one counting its reads); closed by `close()`. */
  storage?: BackupStorage;
}

/** `buildApp` with real Redis queues (unique prefix), real local storage and the real catalog. */
export async function createApiFixture(options: ApiFixtureOptions): Promise<ApiFixture> {
  const prefix = uniquePrefix(options.name);
  const token = options.token === null ? undefined : (options.token ?? TEST_TOKEN);
  const config = makeConfig({
    queuePrefix: prefix,
    token,
    targets: options.targets ?? [makeTarget('app')],
    ...(options.env ? { env: options.env } : {}),
  });
  const storageDir = await mkdtemp(path.join(tmpdir(), 'warden-api-'));
  const storage = options.storage ?? createLocalStorage({ dir: storageDir });
  const testQueues = createTestQueues(prefix);
  const metrics = createMetrics({ prefix: 'warden_', collectDefaultMetrics: false });
  const { logger, lines } = createMemoryLogger(token ? [token] : []);
  const health: ApiFixture['health'] = {
    report: { status: 'healthy', timestamp: 0, services: {} },
  };
  const app = await buildApp(
    {
      config,
      logger,
      queues: options.queues ?? testQueues.queues,
      storage,
      catalog: { listBackups: (listOptions) => listBackups(storage, listOptions) },
      health: {
        async detailed() {
          if (health.report instanceof Error) throw health.report;
          return health.report;
        },
      },
      metrics,
      redis: testQueues.connection,
      alerts: options.alerts,
    },
    options.appOptions,
  );
  await app.ready();
  // The rate limiter counts in-process until its fail-fast client is connected.
  await reconnect(testQueues.connection);
  return {
    app,
    config,
    queues: testQueues.queues,
    connection: testQueues.connection,
    storage,
    metrics,
    prefix,
    logLines: lines,
    health,
    async close() {
      await app.close();
      await testQueues.cleanup();
      await storage.close();
      await rm(storageDir, { recursive: true, force: true });
    },
  };
}

export const bearer = (token: string = TEST_TOKEN) => ({ authorization: `Bearer ${token}` });
export const basic = (token: string = TEST_TOKEN, user = 'admin') => ({
  authorization: `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}`,
});
