import type { BackupStorage, StoredObject } from '@warden/storage';
import { checkListedManifest, listManifestEntries, readNewestFirst } from './catalog.js';
import type { BackupManifest, RestoreTestRecord } from './manifest.js';

/**
 * The few fields of a manifest an overview of many targets shows (last backup, size trend,
 * restore-test verdict), without the content proof, digests and counts that make a manifest big.
 */
export interface ManifestSummary
  extends Pick<
    BackupManifest,
    | 'target'
    | 'database'
    | 'filename'
    | 'trigger'
    | 'started_at'
    | 'finished_at'
    | 'bytes'
    | 'size_mb'
    | 'duration_ms'
    | 'sha256'
  > {
  verification?: Pick<RestoreTestRecord, 'status' | 'at'>;
}

/** Options of {@link createManifestSummaries}. */
export interface ManifestSummariesOptions {
  storage: BackupStorage;
  /** Summaries kept, least recently used dropped first. @defaultValue 25000 */
  maxEntries?: number;
}

/** Newest-first summaries of a target's manifests, remembered between calls. */
export interface ManifestSummaries {
  /**
   * A target's manifests, newest first, as summaries: one key listing, then only the manifests not
   * summarised before or changed since, read lazily (stop early, and the rest stays unread).
   * `expected`: how many the caller means to take, so no more are read ahead.
   */
  newestFirst(target: string, expected?: number): AsyncGenerator<ManifestSummary>;
  /** Summaries (and known non-manifests) held now. */
  readonly size: number;
}

const DEFAULT_SUMMARY_ENTRIES = 25_000;

function summarise(manifest: BackupManifest): ManifestSummary {
  const {
    target,
    database,
    filename,
    trigger,
    started_at,
    finished_at,
    bytes,
    size_mb,
    duration_ms,
    sha256,
  } = manifest;
  const summary: ManifestSummary = {
    target,
    database,
    filename,
    started_at,
    finished_at,
    bytes,
    size_mb,
    duration_ms,
    sha256,
  };
  if (trigger !== undefined) summary.trigger = trigger;
  if (manifest.verification) {
    summary.verification = { status: manifest.verification.status, at: manifest.verification.at };
  }
  return summary;
}

/** What the listing says of an object; a rewrite (the restore test's verdict) changes it. */
function fingerprintOf(object: StoredObject): string {
  return `${object.size}:${object.lastModified.getTime()}:${object.etag ?? ''}`;
}

/**
 * Manifest summaries cached in-process by manifest key and listing fingerprint (size, last
 * modified, etag). A manifest is immutable except for its `verification` (a restore test rewrites
 * it), and a rewrite changes the fingerprint, so a cached summary is good exactly as long as the
 * listing shows the same object. Bounded: an LRU of at most `maxEntries` summaries (about 700
 * bytes each); entries of deleted manifests are never met again and age out.
 */
export function createManifestSummaries(options: ManifestSummariesOptions): ManifestSummaries {
  const { storage } = options;
  const maxEntries = Math.max(1, options.maxEntries ?? DEFAULT_SUMMARY_ENTRIES);
  // Map order is insertion order: re-inserting on a hit makes the first key the least recently used.
  const cache = new Map<string, { fingerprint: string; summary: ManifestSummary | null }>();

  const remember = (key: string, fingerprint: string, summary: ManifestSummary | null) => {
    cache.delete(key);
    cache.set(key, { fingerprint, summary });
    while (cache.size > maxEntries) cache.delete(cache.keys().next().value as string);
  };

  return {
    async *newestFirst(target, expected) {
      const entries = await listManifestEntries(storage, { target });
      yield* readNewestFirst(
        entries,
        async (entry) => {
          const fingerprint = fingerprintOf(entry.object);
          const cached = cache.get(entry.key);
          if (cached?.fingerprint === fingerprint) {
            remember(entry.key, fingerprint, cached.summary);
            return cached.summary ?? undefined;
          }
          let bytes: Buffer;
          try {
            bytes = await storage.readBytes(entry.key);
          } catch {
            // Deleted since the listing, or storage failed: nothing to remember, try again next time.
            return undefined;
          }
          const manifest = checkListedManifest(bytes, entry.key, target);
          // Not a backup stays not a backup until the object changes: no need to read it again.
          const summary = manifest ? summarise(manifest) : null;
          remember(entry.key, fingerprint, summary);
          return summary ?? undefined;
        },
        expected,
      );
    },
    get size() {
      return cache.size;
    },
  };
}
