import { describe, expect, it } from 'vitest';
import { listBackups, writeManifest } from './catalog.js';
import { manifestKeyFor } from './manifest.js';
import { createManifestSummaries } from './manifest-summaries.js';
import { createMemoryStorage } from './testing/memory-storage.js';
import { testManifest } from './testing/test-manifest.js';

const start = Date.parse('2026-03-01T03:00:00Z');

async function storeWith(count: number) {
  const storage = createMemoryStorage();
  const { keysRead } = storage;
  const manifests = [];
  for (let index = 0; index < count; index += 1) {
    const manifest = testManifest({ target: 'app', startedAt: new Date(start + index * 60_000) });
    await writeManifest(storage, manifest);
    manifests.push(manifest);
  }
  return { storage, keysRead, newestFirst: manifests.reverse() };
}

async function collect<T>(items: AsyncIterable<T>, limit = Number.POSITIVE_INFINITY): Promise<T[]> {
  const result: T[] = [];
  for await (const item of items) {
    result.push(item);
    if (result.length >= limit) break;
  }
  return result;
}

describe('manifest summaries', () => {
  it('yields the fields of the catalog, newest first, and reads a manifest again only when it changed', async () => {
    const { storage, keysRead, newestFirst } = await storeWith(5);
    const catalogOrder = (await listBackups(storage, { target: 'app' })).map((manifest) => manifest.filename);
    keysRead.length = 0;
    const summaries = createManifestSummaries({ storage });
    const first = await collect(summaries.newestFirst('app'));
    expect(first.map((summary) => summary.filename)).toEqual(catalogOrder);
    expect(first[0]).toMatchObject({ target: 'app', bytes: 10, sha256: 'a'.repeat(64) });
    expect(first[0]).not.toHaveProperty('row_counts');
    expect(keysRead).toHaveLength(5);

    keysRead.length = 0;
    expect(await collect(summaries.newestFirst('app'))).toEqual(first);
    expect(keysRead).toEqual([]);

    // Same size and the same (fixed) modification time: only the etag tells the rewrite.
    const newest = newestFirst[0]!;
    await writeManifest(storage, {
      ...newest,
      verification: { status: 'passed', at: '2026-03-02T00:00:00.000Z' },
    });
    await collect(summaries.newestFirst('app'));
    await writeManifest(storage, {
      ...newest,
      verification: { status: 'failed', at: '2026-03-02T00:00:00.000Z' },
    });
    keysRead.length = 0;
    const [changed] = await collect(summaries.newestFirst('app'), 1);
    expect(keysRead).toEqual([manifestKeyFor(newest.key)]);
    expect(changed?.verification).toEqual({ status: 'failed', at: '2026-03-02T00:00:00.000Z' });
  });

  it('keeps at most maxEntries summaries, dropping the least recently used', async () => {
    const { storage, keysRead, newestFirst } = await storeWith(5);
    const summaries = createManifestSummaries({ storage, maxEntries: 3 });
    await collect(summaries.newestFirst('app'));
    expect(summaries.size).toBe(3);
    keysRead.length = 0;
    // Read newest first, all of them at once: the two newest were dropped, and are read again.
    await collect(summaries.newestFirst('app'));
    expect(keysRead.sort()).toEqual(
      newestFirst
        .slice(0, 2)
        .map((manifest) => manifestKeyFor(manifest.key))
        .sort(),
    );
    expect(summaries.size).toBe(3);
  });

  it('remembers an object that is not a manifest, but not a read that failed', async () => {
    const { storage, keysRead, newestFirst } = await storeWith(2);
    await storage.putBytes('app/junk.manifest.json', '{not json');
    const broken = manifestKeyFor(newestFirst[0]!.key);
    const readBytes = storage.readBytes;
    let failOnce = true;
    storage.readBytes = (key) => {
      if (key === broken && failOnce) {
        failOnce = false;
        keysRead.push(key);
        return Promise.reject(new Error('storage unavailable'));
      }
      return readBytes(key);
    };
    const summaries = createManifestSummaries({ storage });
    expect(await collect(summaries.newestFirst('app'))).toHaveLength(1);
    keysRead.length = 0;
    expect((await collect(summaries.newestFirst('app'))).map((summary) => summary.filename)).toEqual(
      newestFirst.map((manifest) => manifest.filename),
    );
    expect(keysRead).toEqual([broken]);
  });
});
