/** The API's Redis index of the whole-store backup listing, with storage as the source of truth. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { addToCatalogIndex, createIndexedCatalog } from '@warden/catalog';
import { createRedisConnection } from '@warden/queue';
import { createLocalStorage } from '@warden/storage';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeManifest, makeTarget, storeBackup, uniquePrefix } from './helpers/api-fixtures.js';
import { countingReads } from './helpers/counting-storage.js';
import { deleteKeysUnder } from './helpers/queues.js';

const prefix = uniquePrefix('catalog-index');
const redis = createRedisConnection({ url: 'redis://127.0.0.1:6379', role: 'producer' });
redis.on('error', () => undefined);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'warden-catalog-index-'));
  if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
});
afterAll(async () => {
  await deleteKeysUnder(redis, prefix);
  await redis.quit();
  await rm(dir, { recursive: true, force: true });
});

describe('indexed catalog', () => {
  it('pages the whole store newest first from the index, reading only the page, and follows storage', async () => {
    const storage = createLocalStorage({ dir });
    const targets = ['a', 'b', 'c'].map((name) => makeTarget(name));
    const start = Date.parse('2026-11-01T03:00:00Z');
    const manifests = [];
    for (let index = 0; index < 30; index += 1) {
      const manifest = makeManifest(targets[index % 3]!, new Date(start + index * 60_000), storage);
      manifests.push(manifest);
      await storeBackup(storage, manifest);
    }
    const counted = countingReads(storage);
    const catalog = createIndexedCatalog({ storage: counted.storage, redis, key: `${prefix}:index` });
    const newest = [...manifests].reverse().map((manifest) => manifest.filename);

    const first = await catalog.listBackups({ limit: 5 });
    expect(first.map((manifest) => manifest.filename)).toEqual(newest.slice(0, 5));
    expect(counted.keysRead).toHaveLength(5);
    expect(await redis.zcard(`${prefix}:index`)).toBe(30);

    counted.reset();
    const second = await catalog.listBackups({ limit: 5, before: first.at(-1)?.filename as string });
    expect(second.map((manifest) => manifest.filename)).toEqual(newest.slice(5, 10));
    expect(counted.keysRead).toHaveLength(5);

    // Deleted behind the index's back (retention): skipped, and dropped from the index.
    const gone = manifests.at(-2)!;
    await storage.delete(`${gone.key}.manifest.json`);
    const afterDelete = await catalog.listBackups({ limit: 5 });
    expect(afterDelete.map((manifest) => manifest.filename)).toEqual(
      newest.filter((name) => name !== gone.filename).slice(0, 5),
    );
    expect(await redis.zcard(`${prefix}:index`)).toBe(29);

    // A missing index is rebuilt from storage.
    await redis.del(`${prefix}:index`, `${prefix}:index:built-at`);
    expect((await catalog.listBackups({ limit: 3 })).map((manifest) => manifest.filename)).toEqual(
      newest.filter((name) => name !== gone.filename).slice(0, 3),
    );

    // Without Redis, storage answers alone.
    const dead = new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true, enableOfflineQueue: false });
    dead.on('error', () => undefined);
    const offline = createIndexedCatalog({ storage, redis: dead, key: `${prefix}:dead` });
    expect((await offline.listBackups({ limit: 2 })).map((manifest) => manifest.filename)).toEqual(
      newest.filter((name) => name !== gone.filename).slice(0, 2),
    );
    dead.disconnect();

    // A backup written after the index was built shows at once when the worker adds it.
    const fresh = makeManifest(targets[0]!, new Date(start + 31 * 60_000), storage);
    await storeBackup(storage, fresh);
    expect((await catalog.listBackups({ limit: 1 }))[0]?.filename).not.toBe(fresh.filename);
    await addToCatalogIndex(redis, `${prefix}:index`, `${fresh.key}.manifest.json`);
    expect((await catalog.listBackups({ limit: 1 }))[0]?.filename).toBe(fresh.filename);
    // An index never built: nothing is added (the build reads storage, which has the manifest already).
    await addToCatalogIndex(redis, `${prefix}:absent`, `${fresh.key}.manifest.json`);
    expect(await redis.exists(`${prefix}:absent`)).toBe(0);
    await storage.close();
  });
});
