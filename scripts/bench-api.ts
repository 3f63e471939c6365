/**
 * `npm run bench:api`: load-tests the API in-process with autocannon against a real Redis.
 *
 * - `POST /api/admin/backup`: the full admin path (rate limit, token check, schema validation,
 *   BullMQ add). Deduplication is turned off for the run, or every request after the first would
 *   only look up the waiting job.
 * - `GET /health`: the cheapest route, the floor of the stack.
 *
 * Environment: REDIS_URL (default redis://127.0.0.1:6379), BENCH_DURATION_SECONDS (10),
 * BENCH_CONNECTIONS (20). Every Redis key the run made is deleted at the end.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { listBackups } from '@warden/catalog';
import { loadConfig } from '@warden/config';
import { createLogger } from '@warden/logging';
import { createMetrics } from '@warden/metrics';
import { createRedisConnection, QUEUE_NAMES } from '@warden/queue';
import { createLocalStorage } from '@warden/storage';
import autocannon from 'autocannon';
import { Queue } from 'bullmq';
import { buildApp } from '../apps/api/src/app.js';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const duration = Number(process.env.BENCH_DURATION_SECONDS ?? 10);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 20);
const prefix = `warden-bench-api-${randomBytes(4).toString('hex')}`;
const token = randomBytes(24).toString('hex');

const config = loadConfig({
  REDIS_URL: redisUrl,
  QUEUE_PREFIX: prefix,
  ADMIN_API_TOKEN: token,
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/bench',
  // Keep the limiter in the path (its Redis round trip is part of the measurement) but out of reach.
  API_RATE_LIMIT_PER_MINUTE: '1000000000',
});
const logger = createLogger({ service: 'warden-bench-api', level: 'warn', secrets: [token] });
const redis = createRedisConnection({ url: redisUrl, role: 'producer', connectionName: prefix });
redis.on('error', (error: Error) => logger.warn({ err: error }, 'redis connection error'));
const makeQueue = (name: string) => {
  const queue = new Queue(name, { connection: redis, prefix });
  queue.on('error', (error) => logger.warn({ err: error, queue: name }, 'queue error'));
  return queue;
};
const queues = {
  backups: makeQueue(QUEUE_NAMES.backups),
  restores: makeQueue(QUEUE_NAMES.restores),
  probes: makeQueue(QUEUE_NAMES.probes),
};
const storageDir = await mkdtemp(path.join(tmpdir(), 'warden-bench-api-'));
const storage = createLocalStorage({ dir: storageDir });

const app = await buildApp(
  {
    config,
    logger,
    queues,
    storage,
    catalog: { listBackups: (options) => listBackups(storage, options) },
    health: {
      detailed: async () => ({ status: 'healthy', timestamp: Math.floor(Date.now() / 1000), services: {} }),
    },
    metrics: createMetrics({ prefix: config.metrics.prefix }),
    redis,
  },
  { deduplicateBackups: false },
);

interface Row {
  scenario: string;
  'requests/s': number;
  'p50 ms': number;
  'p99 ms': number;
  requests: number;
  'non-2xx': number;
  errors: number;
}

async function bench(scenario: string, options: autocannon.Options): Promise<Row> {
  const result = await autocannon({ connections, duration, ...options });
  return {
    scenario,
    'requests/s': Math.round(result.requests.average),
    'p50 ms': result.latency.p50,
    'p99 ms': result.latency.p99,
    requests: result.requests.total,
    'non-2xx': result.non2xx,
    errors: result.errors,
  };
}

async function deleteBenchKeys(): Promise<number> {
  let deleted = 0;
  if (!('scanStream' in redis)) return deleted;
  for await (const keys of redis.scanStream({ match: `${prefix}:*`, count: 1000 }) as AsyncIterable<
    string[]
  >) {
    if (keys.length > 0) deleted += await redis.del(...keys);
  }
  return deleted;
}

let exitCode = 0;
try {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  console.error(`bench:api: ${duration}s per scenario, ${connections} connections, queue prefix ${prefix}`);

  const rows: Row[] = [];
  rows.push(
    await bench('POST /api/admin/backup', {
      url: `${base}/api/admin/backup`,
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ target: 'bench', reason: 'bench:api' }),
    }),
  );
  const queued = await queues.backups.getWaitingCount();
  rows.push(await bench('GET /health', { url: `${base}/health` }));
  console.table(rows);
  console.log(`backup jobs queued during the run: ${queued}`);
  if (rows.some((row) => row['non-2xx'] > 0 || row.errors > 0)) {
    console.error('bench:api: some requests failed');
    exitCode = 1;
  }
} finally {
  await app.close();
  await Promise.all(Object.values(queues).map((queue) => queue.close()));
  const deleted = await deleteBenchKeys();
  console.error(`bench:api: deleted ${deleted} Redis keys under ${prefix}:*`);
  await redis.quit();
  await storage.close();
  await rm(storageDir, { recursive: true, force: true });
}
process.exit(exitCode);
