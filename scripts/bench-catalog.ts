/**
 * `npm run bench:catalog`: the catalog through the real API (`buildApp`, `inject`, local storage).
 *
 * - `GET /api/admin/backups` against a store of 10,000 manifests (100 targets × 100 backups): the
 *   first page, a page deep in the store (cursor paging) and one target's page, best and median of
 *   20 requests each, and how many manifests each page read.
 * - `GET /api/admin/fleet` for 500 targets × 30 backups of a 200-table database (the newest but one
 *   of each restore-tested): the first load, repeated loads (the console reloads every 15 s), a
 *   load after restore tests rewrote 10 manifests, and for comparison a read of every manifest
 *   (what each load cost before the view read per target); time, manifests read, and the memory
 *   the remembered summaries take.
 *
 * Environment: BENCH_MANIFESTS (10000), BENCH_TARGETS (100), BENCH_FLEET_TARGETS (500),
 * BENCH_FLEET_BACKUPS (30), BENCH_FLEET_TABLES (200), REDIS_URL. The memory figure needs `--expose-gc`
 * (the npm script passes it).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  type BackupManifest,
  backupFileName,
  createIndexedCatalog,
  createManifestSummaries,
  dumpKeyFor,
  listBackups,
  MANIFEST_FORMAT_VERSION,
  sizeMb,
  writeManifest,
} from '@warden/catalog';
import { type BackupTarget, loadConfig } from '@warden/config';
import { createLogger } from '@warden/logging';
import { createRedisConnection, QUEUE_NAMES } from '@warden/queue';
import { type BackupStorage, createLocalStorage } from '@warden/storage';
import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../apps/api/src/app.js';

const total = Number(process.env.BENCH_MANIFESTS ?? 10_000);
const targetCount = Number(process.env.BENCH_TARGETS ?? 100);
const fleetTargetCount = Number(process.env.BENCH_FLEET_TARGETS ?? 500);
const fleetBackups = Number(process.env.BENCH_FLEET_BACKUPS ?? 30);
/** Tables in each fleet manifest's row counts: what makes a real manifest kilobytes, not bytes. */
const fleetTables = Number(process.env.BENCH_FLEET_TABLES ?? 200);
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `warden-bench-catalog-${randomBytes(4).toString('hex')}`;
const storageDirs: string[] = [];
const closers: (() => Promise<unknown>)[] = [];
const start = Date.parse('2026-01-01T03:00:00Z');
const names = (count: number) =>
  Array.from({ length: count }, (_, index) => `db${String(index).padStart(3, '0')}`);

function manifestOf(storage: BackupStorage, target: string, startedAt: Date, tables = 0): BackupManifest {
  const filename = backupFileName(target, 'bench', startedAt);
  const key = dumpKeyFor(target, filename);
  return {
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
    ...(tables > 0
      ? {
          row_counts: Object.fromEntries(
            Array.from({ length: tables }, (_, table) => [
              `public.table_${String(table).padStart(4, '0')}`,
              table * 1_000,
            ]),
          ),
        }
      : {}),
  };
}

/** A fresh local store and a view of it whose manifest reads are counted. */
async function countedStore() {
  const dir = await mkdtemp(path.join(tmpdir(), 'warden-bench-catalog-'));
  storageDirs.push(dir);
  const storage = createLocalStorage({ dir });
  const counter = { reads: 0 };
  const counted: BackupStorage = {
    ...storage,
    describe: storage.describe.bind(storage),
    list: storage.list.bind(storage),
    head: storage.head.bind(storage),
    readBytes: (key: string) => {
      counter.reads += 1;
      return storage.readBytes(key);
    },
  };
  return { storage, counted, counter };
}

const logger = createLogger({ service: 'warden-bench-catalog', level: 'warn' });
const redis = createRedisConnection({ url: redisUrl, role: 'producer' });
redis.on('error', () => undefined);
const queue = (name: string) => new Queue(name, { connection: redis, prefix });
const queues = {
  backups: queue(QUEUE_NAMES.backups),
  restores: queue(QUEUE_NAMES.restores),
  probes: queue(QUEUE_NAMES.probes),
};

async function startApp(
  storage: BackupStorage,
  catalogStorage: BackupStorage,
  targets?: (template: BackupTarget) => BackupTarget[],
) {
  const config = loadConfig({
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: prefix,
    DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/db000',
    API_RATE_LIMIT_PER_MINUTE: '100000',
  });
  if (targets) config.targets = targets(config.targets[0] as BackupTarget);
  const app = await buildApp({
    config,
    logger,
    queues,
    storage,
    catalog: createIndexedCatalog({ storage: catalogStorage, redis, key: `${prefix}:catalog:index` }),
    health: { detailed: async () => ({ status: 'healthy', timestamp: 0, services: {} }) },
  });
  await app.ready();
  closers.push(
    () => app.close(),
    () => storage.close(),
  );
  return app;
}

async function timed(app: FastifyInstance, url: string, counter: { reads: number }) {
  counter.reads = 0;
  const begin = performance.now();
  const response = await app.inject({ method: 'GET', url });
  const ms = performance.now() - begin;
  if (response.statusCode !== 200) throw new Error(`${url}: HTTP ${response.statusCode} ${response.body}`);
  return { ms, reads: counter.reads, body: response.json() as Record<string, unknown[]> };
}

async function measure(
  app: FastifyInstance,
  counter: { reads: number },
  name: string,
  url: () => string,
  times = 20,
) {
  const ms: number[] = [];
  let last = { reads: 0, returned: 0 };
  for (let index = 0; index < times; index += 1) {
    const result = await timed(app, url(), counter);
    ms.push(result.ms);
    last = { reads: result.reads, returned: (result.body.backups ?? result.body.targets ?? []).length };
  }
  ms.sort((a, b) => a - b);
  return {
    request: name,
    'best ms': Number(ms[0]?.toFixed(1)),
    'median ms': Number(ms[Math.floor(times / 2)]?.toFixed(1)),
    returned: last.returned,
    'manifests read': last.reads,
  };
}

async function benchBackupList() {
  const { storage, counted, counter } = await countedStore();
  const targets = names(targetCount);
  console.error(`bench:catalog: writing ${total} manifests …`);
  for (let index = 0; index < total; index += 1) {
    const target = targets[index % targetCount] as string;
    await writeManifest(storage, manifestOf(storage, target, new Date(start + index * 60_000)));
  }
  const app = await startApp(storage, counted);
  const first = (await timed(app, '/api/admin/backups?limit=50', counter)).body.backups as BackupManifest[];
  const deep = first.at(-1)?.filename ?? '';
  console.log(`\nGET /api/admin/backups, ${total} manifests in the store`);
  console.table([
    await measure(app, counter, 'first page (50 of all)', () => '/api/admin/backups?limit=50'),
    await measure(app, counter, 'page after a cursor', () => `/api/admin/backups?limit=50&before=${deep}`),
    await measure(app, counter, 'one target (50)', () => `/api/admin/backups?limit=50&target=${targets[7]}`),
  ]);
}

async function benchFleet() {
  const { storage, counted, counter } = await countedStore();
  const targets = names(fleetTargetCount);
  console.error(
    `bench:catalog: writing ${fleetTargetCount} targets × ${fleetBackups} manifests of ${fleetTables} tables …`,
  );
  const newest = new Map<string, BackupManifest>();
  for (const [index, target] of targets.entries()) {
    const written: BackupManifest[] = [];
    for (let backup = 0; backup < fleetBackups; backup += 1) {
      written.push(
        manifestOf(storage, target, new Date(start + backup * 86_400_000 + index * 1_000), fleetTables),
      );
    }
    // The daily restore test proved the newest but one.
    const tested = written.at(-2);
    if (tested) tested.verification = { status: 'passed', at: new Date(start).toISOString() };
    await Promise.all(written.map((manifest) => writeManifest(storage, manifest)));
    newest.set(target, written.at(-1) as BackupManifest);
  }
  const app = await startApp(counted, counted, (template) =>
    targets.map((name) => ({ ...template, name, database: name })),
  );
  const cold = await timed(app, '/api/admin/fleet', counter);
  const repeated = await measure(app, counter, 'repeated load (cached)', () => '/api/admin/fleet', 10);
  for (const target of targets.slice(0, 10)) {
    const manifest = newest.get(target) as BackupManifest;
    await writeManifest(storage, {
      ...manifest,
      verification: { status: 'passed', at: new Date().toISOString() },
    });
  }
  const afterTests = await timed(app, '/api/admin/fleet', counter);
  counter.reads = 0;
  const wholeStart = performance.now();
  await listBackups(counted, {});
  const wholeMs = performance.now() - wholeStart;
  const row = (request: string, result: { ms: number; reads: number }) => ({
    request,
    'best ms': Number(result.ms.toFixed(1)),
    'median ms': Number(result.ms.toFixed(1)),
    returned: fleetTargetCount,
    'manifests read': result.reads,
  });
  const manifestBytes = Buffer.byteLength(JSON.stringify(newest.values().next().value, null, 2));
  console.log(
    `\nGET /api/admin/fleet, ${fleetTargetCount} targets × ${fleetBackups} backups, manifests of ${(manifestBytes / 1024).toFixed(1)} KiB`,
  );
  console.table([
    row('first load', cold),
    repeated,
    row('after 10 restore tests', afterTests),
    row('listBackups of every manifest', { ms: wholeMs, reads: counter.reads }),
  ]);
  await summaryMemory(storage, targets);
}

/** Heap the remembered summaries of one fleet load take, per summary (needs `--expose-gc`). */
async function summaryMemory(storage: BackupStorage, targets: string[]) {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) {
    console.log('(run with node --expose-gc for the memory of the remembered summaries)');
    return;
  }
  // Several collections, after a warm-up, so only the summaries themselves remain in the difference.
  const settled = () => {
    for (let round = 0; round < 4; round += 1) gc();
    return process.memoryUsage().heapUsed;
  };
  for await (const _ of createManifestSummaries({ storage }).newestFirst(targets[0] as string));
  const before = settled();
  const summaries = createManifestSummaries({ storage });
  for (const target of targets) {
    for await (const _ of summaries.newestFirst(target));
  }
  const bytes = settled() - before;
  console.log(
    `remembered summaries: ${summaries.size}, heap ${(bytes / 1024 / 1024).toFixed(1)} MiB, ${Math.round(bytes / summaries.size)} B each`,
  );
}

try {
  if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
  await benchBackupList();
  await benchFleet();
} finally {
  for (const close of closers) await close();
  await Promise.all(Object.values(queues).map((q) => q.close()));
  await redis.del(`${prefix}:catalog:index`, `${prefix}:catalog:index:built-at`);
  await redis.quit();
  for (const dir of storageDirs) await rm(dir, { recursive: true, force: true });
}
