/**
 * `npm run bench:catalog`: `GET /api/admin/backups` against a store of 10,000 manifests (local
 * storage, 100 targets × 100 backups), through the real API (`buildApp`, `inject`). Prints the time
 * of the first page, a page deep in the store (cursor paging) and one target's page, best and
 * median of 20 requests each, and how many manifests each page read.
 *
 * Environment: BENCH_MANIFESTS (10000), BENCH_TARGETS (100), REDIS_URL.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  type BackupManifest,
  backupFileName,
  createIndexedCatalog,
  dumpKeyFor,
  MANIFEST_FORMAT_VERSION,
  sizeMb,
  writeManifest,
} from '@warden/catalog';
import { loadConfig } from '@warden/config';
import { createLogger } from '@warden/logging';
import { createRedisConnection, QUEUE_NAMES } from '@warden/queue';
import { createLocalStorage } from '@warden/storage';
import { Queue } from 'bullmq';
import { buildApp } from '../apps/api/src/app.js';

const total = Number(process.env.BENCH_MANIFESTS ?? 10_000);
const targetCount = Number(process.env.BENCH_TARGETS ?? 100);
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `warden-bench-catalog-${randomBytes(4).toString('hex')}`;
const storageDir = await mkdtemp(path.join(tmpdir(), 'warden-bench-catalog-'));
const storage = createLocalStorage({ dir: storageDir });
const targets = Array.from({ length: targetCount }, (_, index) => `db${String(index).padStart(3, '0')}`);

console.error(`bench:catalog: writing ${total} manifests …`);
const start = Date.parse('2026-01-01T03:00:00Z');
for (let index = 0; index < total; index += 1) {
  const target = targets[index % targetCount] as string;
  const startedAt = new Date(start + index * 60_000);
  const filename = backupFileName(target, 'bench', startedAt);
  const key = dumpKeyFor(target, filename);
  const manifest: BackupManifest = {
    formatVersion: MANIFEST_FORMAT_VERSION,
    status: 'success',
    target,
    environment: 'bench',
    database: target,
    filename,
    key,
    bytes: 1_000_000,
    size_mb: sizeMb(1_000_000),
    sha256: randomBytes(32).toString('hex'),
    sql_bytes: 4_000_000,
    compression: 'gzip',
    started_at: startedAt.toISOString(),
    finished_at: new Date(startedAt.getTime() + 5_000).toISOString(),
    duration_ms: 5_000,
    location: storage.describe(key),
    server_version: '15.14',
    pg_dump_version: '15.14',
    host: 'bench',
    trigger: 'schedule',
  };
  await writeManifest(storage, manifest);
}

const config = loadConfig({
  REDIS_URL: redisUrl,
  QUEUE_PREFIX: prefix,
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/db000',
  API_RATE_LIMIT_PER_MINUTE: '100000',
});
const logger = createLogger({ service: 'warden-bench-catalog', level: 'warn' });
const redis = createRedisConnection({ url: redisUrl, role: 'producer' });
redis.on('error', () => undefined);
const queue = (name: string) => new Queue(name, { connection: redis, prefix });
const queues = {
  backups: queue(QUEUE_NAMES.backups),
  restores: queue(QUEUE_NAMES.restores),
  probes: queue(QUEUE_NAMES.probes),
};
let reads = 0;
const counted = {
  ...storage,
  describe: storage.describe.bind(storage),
  list: storage.list.bind(storage),
  head: storage.head.bind(storage),
  readBytes: (key: string) => {
    reads += 1;
    return storage.readBytes(key);
  },
} as typeof storage;
const app = await buildApp({
  config,
  logger,
  queues,
  storage,
  catalog: createIndexedCatalog({ storage: counted, redis, key: `${prefix}:catalog:index` }),
  health: { detailed: async () => ({ status: 'healthy', timestamp: 0, services: {} }) },
});
await app.ready();

async function measure(name: string, url: () => string) {
  const times: number[] = [];
  let manifestsRead = 0;
  let returned = 0;
  for (let index = 0; index < 20; index += 1) {
    reads = 0;
    const begin = performance.now();
    const response = await app.inject({ method: 'GET', url: url() });
    times.push(performance.now() - begin);
    manifestsRead = reads;
    if (response.statusCode !== 200) throw new Error(`${name}: HTTP ${response.statusCode} ${response.body}`);
    returned = (response.json() as { backups: unknown[] }).backups.length;
  }
  times.sort((a, b) => a - b);
  return {
    page: name,
    'best ms': Number(times[0]?.toFixed(1)),
    'median ms': Number(times[10]?.toFixed(1)),
    returned,
    'manifests read': manifestsRead,
  };
}

try {
  if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
  const first = (await app.inject({ method: 'GET', url: '/api/admin/backups?limit=50' })).json() as {
    backups: BackupManifest[];
  };
  const deep = first.backups.at(-1)?.filename ?? '';
  const rows = [
    await measure('first page (50 of all)', () => '/api/admin/backups?limit=50'),
    await measure('page after a cursor', () => `/api/admin/backups?limit=50&before=${deep}`),
    await measure('one target (50)', () => `/api/admin/backups?limit=50&target=${targets[7]}`),
  ];
  console.log(`${total} manifests in the store`);
  console.table(rows);
} finally {
  await app.close();
  await Promise.all(Object.values(queues).map((q) => q.close()));
  await redis.del(`${prefix}:catalog:index`, `${prefix}:catalog:index:built-at`);
  await redis.quit();
  await storage.close();
  await rm(storageDir, { recursive: true, force: true });
}
