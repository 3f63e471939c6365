import type { BackupStorage } from '@warden/storage';
import type { Cluster, Redis } from 'ioredis';
import { type ListBackupsOptions, listBackups, readListedManifest, timeOfBackupName } from './catalog.js';
import { type BackupManifest, MANIFEST_SUFFIX } from './manifest.js';

/** The whole-store listing as the API serves it. */
export interface BackupCatalog {
  listBackups(options: ListBackupsOptions): Promise<BackupManifest[]>;
}

const builtAtKey = (indexKey: string) => `${indexKey}:built-at`;

/** The index's key under an installation's `QUEUE_PREFIX`. */
export function catalogIndexKey(queuePrefix: string): string {
  return `${queuePrefix}:catalog:index`;
}

/**
 * Adds a manifest just written to the index, so the whole-store listing shows a new backup at once
 * rather than at the index's next rebuild. Only into an index that was built: one that never was is
 * built from storage, which already holds the manifest.
 */
export async function addToCatalogIndex(
  redis: Redis | Cluster,
  indexKey: string,
  manifestKey: string,
): Promise<void> {
  const time = timeOfBackupName(manifestKey.slice(0, -MANIFEST_SUFFIX.length));
  if (Number.isNaN(time) || (await redis.exists(builtAtKey(indexKey))) !== 1) return;
  await redis.zadd(indexKey, time, manifestKey);
}

/** Options of {@link createIndexedCatalog}. */
export interface IndexedCatalogOptions {
  storage: BackupStorage;
  /** The API's fail-fast client; not closed here. */
  redis: Redis | Cluster;
  /** The index's key: {@link catalogIndexKey}. */
  key: string;
  /** An index older than this is rebuilt from storage before it answers. @defaultValue 60000 */
  maxAgeMs?: number;
}

/**
 * The whole-store listing of `GET /api/admin/backups` through an index in Redis: a sorted set of
 * manifest keys scored by the start time in their names. A page costs one range read and the
 * manifests it returns, not a walk of the store. Storage stays the source of truth: the index is
 * rebuilt from a listing of keys (no manifest read) when it is missing or older than `maxAgeMs`,
 * a key whose manifest is gone or invalid is dropped when met, and without Redis the listing
 * falls back to storage. A target's own listing needs no index (one prefix, read lazily).
 */
export function createIndexedCatalog(options: IndexedCatalogOptions): BackupCatalog {
  const { storage, redis } = options;
  const builtKey = builtAtKey(options.key);
  const maxAgeMs = options.maxAgeMs ?? 60_000;
  let rebuilding: Promise<void> | undefined;

  const rebuild = async () => {
    const objects = (await storage.list('')).filter((object) => object.key.endsWith(MANIFEST_SUFFIX));
    const staging = `${options.key}:staging`;
    await redis.del(staging);
    for (let start = 0; start < objects.length; start += 1_000) {
      const args: (string | number)[] = [];
      for (const object of objects.slice(start, start + 1_000)) {
        const time = timeOfBackupName(object.key.slice(0, -MANIFEST_SUFFIX.length));
        if (!Number.isNaN(time)) args.push(time, object.key);
      }
      if (args.length > 0) await redis.zadd(staging, ...args);
    }
    if (objects.length > 0 && (await redis.exists(staging)) === 1) await redis.rename(staging, options.key);
    else await redis.del(options.key);
    await redis.set(builtKey, String(Date.now()));
  };

  const ensureFresh = async () => {
    const builtAt = Number((await redis.get(builtKey)) ?? 0);
    if (Date.now() - builtAt <= maxAgeMs) return;
    rebuilding ??= rebuild().finally(() => {
      rebuilding = undefined;
    });
    await rebuilding;
  };

  const pageFromIndex = async (limit: number, before: string | undefined): Promise<BackupManifest[]> => {
    let max = '+inf';
    if (before !== undefined) {
      const fromName = timeOfBackupName(before);
      const limitMs = Number.isNaN(fromName) ? Date.parse(before) : fromName;
      if (Number.isNaN(limitMs)) return listBackups(storage, { limit, before });
      max = `(${limitMs}`;
    }
    const result: BackupManifest[] = [];
    let offset = 0;
    while (result.length < limit) {
      const keys = await redis.zrevrangebyscore(
        options.key,
        max,
        '-inf',
        'LIMIT',
        offset,
        limit - result.length,
      );
      if (keys.length === 0) break;
      const manifests = await Promise.all(keys.map((key) => readListedManifest(storage, key)));
      for (const [index, manifest] of manifests.entries()) {
        if (manifest) {
          result.push(manifest);
          offset += 1;
        } else {
          // Gone (deleted by retention) or not a backup: storage decides, and the entry goes.
          await redis.zrem(options.key, keys[index] as string);
        }
      }
    }
    return result;
  };

  return {
    async listBackups(listOptions: ListBackupsOptions) {
      if (listOptions.target !== undefined || listOptions.limit === undefined) {
        return listBackups(storage, listOptions);
      }
      try {
        await ensureFresh();
        return await pageFromIndex(listOptions.limit, listOptions.before);
      } catch {
        // Redis unreachable: the store itself answers, as it always can.
        return listBackups(storage, listOptions);
      }
    },
  };
}
