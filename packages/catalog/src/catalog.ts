import { BackupError, errorMessage } from '@warden/errors';
import type { BackupStorage, StoredObject } from '@warden/storage';
import {
  type BackupManifest,
  dumpKeyFor,
  MANIFEST_FORMAT_VERSION,
  MANIFEST_SUFFIX,
  manifestKeyFor,
} from './manifest.js';

function fail(reason: string): never {
  throw new BackupError('MANIFEST_INVALID', `invalid backup manifest: ${reason}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const REQUIRED_STRINGS = [
  'target',
  'environment',
  'database',
  'filename',
  'key',
  'sha256',
  'started_at',
  'finished_at',
  'location',
  'server_version',
  'pg_dump_version',
  'host',
] as const;
const REQUIRED_NUMBERS = ['bytes', 'size_mb', 'sql_bytes', 'duration_ms'] as const;

/**
 * Validates a parsed manifest. Anything in the store that does not pass is not a Warden backup
 * and is ignored by the catalog.
 */
export function parseManifest(value: unknown): BackupManifest {
  if (!isRecord(value)) fail('not a JSON object');
  if (value.formatVersion !== MANIFEST_FORMAT_VERSION)
    fail(`unsupported formatVersion ${String(value.formatVersion)}`);
  if (value.status !== 'success') fail(`status must be "success"`);
  for (const field of REQUIRED_STRINGS) {
    if (typeof value[field] !== 'string') fail(`"${field}" must be a string`);
  }
  for (const field of REQUIRED_NUMBERS) {
    const number = value[field];
    if (typeof number !== 'number' || !Number.isFinite(number) || number < 0) {
      fail(`"${field}" must be a non-negative number`);
    }
  }
  if (value.compression !== 'gzip' && value.compression !== 'zstd')
    fail('"compression" must be gzip or zstd');
  if (!/^[0-9a-f]{64}$/.test(value.sha256 as string)) fail('"sha256" must be 64 hex digits');
  for (const field of ['started_at', 'finished_at'] as const) {
    if (Number.isNaN(Date.parse(value[field] as string))) fail(`"${field}" must be an ISO time`);
  }
  // The file name becomes part of local paths (a restore's download, the spool): one plain segment.
  const filename = value.filename as string;
  if (/[\\/\0]/.test(filename) || filename === '' || filename === '.' || filename === '..') {
    fail('"filename" must be a plain file name');
  }
  if (value.key !== dumpKeyFor(value.target as string, value.filename as string)) {
    fail('"key" must be <target>/<filename>');
  }
  for (const field of ['row_counts', 'schema_objects'] as const) {
    const counts = value[field];
    if (counts === undefined) continue;
    if (!isRecord(counts) || !Object.values(counts).every((count) => typeof count === 'number')) {
      fail(`"${field}" must map names to numbers`);
    }
  }
  const inDump = value.database_properties_in_dump;
  if (inDump !== undefined && typeof inDump !== 'boolean')
    fail('"database_properties_in_dump" must be a boolean');
  // Else a restore would compare nothing, and apply nothing either.
  if (inDump === true && !isRecord(value.database_properties)) {
    fail('"database_properties_in_dump" needs "database_properties"');
  }
  if (value.database_locale !== undefined) checkDatabaseLocale(value.database_locale);
  return value as unknown as BackupManifest;
}

/** A restore quotes these into `CREATE DATABASE`: text of a sane length, no NUL, a known provider. */
function checkDatabaseLocale(locale: unknown): void {
  if (!isRecord(locale)) fail('"database_locale" must be an object');
  const isText = (text: unknown) => typeof text === 'string' && text.length <= 1000 && !text.includes('\0');
  if (typeof locale.encoding !== 'string' || !/^[A-Za-z0-9_]{1,40}$/.test(locale.encoding))
    fail('"database_locale.encoding" must be an encoding name');
  for (const field of ['collate', 'ctype'] as const) {
    if (!isText(locale[field])) fail(`"database_locale.${field}" must be a string`);
  }
  if (locale.provider !== 'libc' && locale.provider !== 'icu' && locale.provider !== 'builtin')
    fail('"database_locale.provider" must be libc, icu or builtin');
  for (const field of ['locale', 'icu_rules'] as const) {
    if (locale[field] !== null && !isText(locale[field]))
      fail(`"database_locale.${field}" must be a string or null`);
  }
}

export function parseManifestBytes(bytes: Buffer | string): BackupManifest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString());
  } catch (error) {
    throw new BackupError('MANIFEST_INVALID', `invalid backup manifest: not JSON (${errorMessage(error)})`, {
      cause: error,
    });
  }
  return parseManifest(parsed);
}

/** Stores the manifest beside its dump (`<key>.manifest.json`). */
export async function writeManifest(storage: BackupStorage, manifest: BackupManifest): Promise<void> {
  parseManifest(manifest);
  await storage.putBytes(manifestKeyFor(manifest.key), `${JSON.stringify(manifest, null, 2)}\n`, {
    contentType: 'application/json',
  });
}

/**
 * The manifest of one backup; `undefined` when there is none. Throws `MANIFEST_INVALID` when the
 * object exists but is not a valid manifest of that target.
 */
export async function readManifest(
  storage: BackupStorage,
  target: string,
  filename: string,
): Promise<BackupManifest | undefined> {
  const key = manifestKeyFor(dumpKeyFor(target, filename));
  if ((await storage.head(key)) === undefined) return undefined;
  const manifest = parseManifestBytes(await storage.readBytes(key));
  if (manifest.target !== target || manifest.filename !== filename) {
    fail(`${key} describes ${manifest.key}`);
  }
  return manifest;
}

export interface ListBackupsOptions {
  /** Only this target's backups (keys under `<target>/`). */
  target?: string;
  /** At most this many, newest first. */
  limit?: number;
  /** Only backups older than this ISO time, or older than the backup with this file name (paging). */
  before?: string;
}

/** Newest first by start time, then file name. */
function compareNewestFirst(
  a: Pick<BackupManifest, 'started_at' | 'filename'>,
  b: Pick<BackupManifest, 'started_at' | 'filename'>,
): number {
  const byTime = Date.parse(b.started_at) - Date.parse(a.started_at);
  if (byTime !== 0) return byTime;
  return a.filename < b.filename ? 1 : a.filename > b.filename ? -1 : 0;
}

const FILENAME_TIMESTAMP = /_(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})\.sql\.(?:gz|zst)$/;

const READ_CONCURRENCY = 8;

/** UTC start second from a backup file name (the timestamp its name ends in), or NaN. */
export function timeOfBackupName(name: string): number {
  const match = FILENAME_TIMESTAMP.exec(name);
  return match
    ? Date.UTC(+match[1]!, +match[2]! - 1, +match[3]!, +match[4]!, +match[5]!, +match[6]!)
    : Number.NaN;
}

/** A manifest as a key listing shows it, before it is read. */
export interface ManifestEntry {
  key: string;
  filename: string;
  /** Start second from the name; NaN for names without a timestamp (sorted last). */
  time: number;
  /** What the listing says of the object (size, last modified, etag). */
  object: StoredObject;
}

/** Newest first by the start second in the name, then file name: the manifests' own order. */
function compareEntries(a: ManifestEntry, b: ManifestEntry): number {
  const aTime = Number.isNaN(a.time) ? Number.NEGATIVE_INFINITY : a.time;
  const bTime = Number.isNaN(b.time) ? Number.NEGATIVE_INFINITY : b.time;
  if (aTime !== bTime) return bTime - aTime;
  return a.filename < b.filename ? 1 : a.filename > b.filename ? -1 : 0;
}

/**
 * The manifest keys of the store (or of one target), newest first, from one key listing: backup
 * names end in their UTC start time, so the order is known before any manifest is read.
 */
export async function listManifestEntries(
  storage: BackupStorage,
  options: Pick<ListBackupsOptions, 'target' | 'before'> = {},
): Promise<ManifestEntry[]> {
  const prefix = options.target === undefined ? '' : `${options.target}/`;
  const entries: ManifestEntry[] = (await storage.list(prefix))
    .filter((object) => object.key.endsWith(MANIFEST_SUFFIX))
    .map((object) => {
      const filename = object.key.slice(object.key.lastIndexOf('/') + 1, -MANIFEST_SUFFIX.length);
      return { key: object.key, filename, time: timeOfBackupName(filename), object };
    })
    .sort(compareEntries);
  return options.before === undefined ? entries : olderThan(entries, options.before);
}

/**
 * The manifest in the bytes of a listed object; `undefined` when they are not a backup of that
 * place: foreign, corrupt, not beside its own dump, or (with `target`) under another target's prefix.
 */
export function checkListedManifest(bytes: Buffer, key: string, target?: string): BackupManifest | undefined {
  try {
    const manifest = parseManifestBytes(bytes);
    if (manifestKeyFor(manifest.key) !== key) return undefined;
    if (target !== undefined && manifest.target !== target) return undefined;
    return manifest;
  } catch {
    return undefined;
  }
}

/** One listed manifest, read and checked ({@link checkListedManifest}); a concurrently deleted one is none. */
export async function readListedManifest(
  storage: BackupStorage,
  key: string,
  target?: string,
): Promise<BackupManifest | undefined> {
  let bytes: Buffer;
  try {
    bytes = await storage.readBytes(key);
  } catch {
    return undefined;
  }
  return checkListedManifest(bytes, key, target);
}

/**
 * Reads listed entries (from {@link listManifestEntries}) a few at a time and yields what `read`
 * gives, newest first, skipping `undefined`. A consumer that stops early leaves the rest unread.
 * `expected` is how many the consumer means to take: rounds read no more than are still expected
 * (at most 8 at once), and once that many are yielded and it goes on, 1, 2, 4, then 8 at a time.
 */
export async function* readNewestFirst<T extends Pick<BackupManifest, 'started_at' | 'filename'>>(
  entries: readonly ManifestEntry[],
  read: (entry: ManifestEntry) => Promise<T | undefined>,
  expected = Number.POSITIVE_INFINITY,
): AsyncGenerator<T> {
  let yielded = 0;
  let beyond = 0;
  for (let start = 0; start < entries.length; ) {
    const wanted = expected - yielded;
    const size = Math.min(READ_CONCURRENCY, wanted > 0 ? wanted : 2 ** beyond++);
    const batch = await Promise.all(entries.slice(start, start + size).map(read));
    start += size;
    for (const item of batch.sort((a, b) => (a && b ? compareNewestFirst(a, b) : 0))) {
      if (!item) continue;
      yielded += 1;
      yield item;
    }
  }
}

/** Options of {@link manifestsNewestFirst}. */
export interface NewestFirstOptions extends Pick<ListBackupsOptions, 'target' | 'before'> {
  /** How many the caller means to take (a page's size, 1 for the latest): no more are read ahead. */
  expected?: number;
}

/**
 * The manifests of the store (or of one target), newest first, read lazily: the listing gives
 * keys only, in order. A page (or the latest good backup) costs the manifests it returns, plus the
 * rare invalid ones it skips, whatever the size of the store.
 */
export async function* manifestsNewestFirst(
  storage: BackupStorage,
  options: NewestFirstOptions = {},
): AsyncGenerator<BackupManifest> {
  yield* readNewestFirst(
    await listManifestEntries(storage, options),
    (entry) => readListedManifest(storage, entry.key, options.target),
    options.expected,
  );
}

/** The catalog: valid manifests, newest first, at most `limit` of them (each read only if returned). */
export async function listBackups(
  storage: BackupStorage,
  options: ListBackupsOptions = {},
): Promise<BackupManifest[]> {
  const limit = options.limit === undefined ? Number.POSITIVE_INFINITY : Math.max(0, options.limit);
  const result: BackupManifest[] = [];
  if (limit === 0) return result;
  const { target, before } = options;
  for await (const manifest of manifestsNewestFirst(storage, { target, before, expected: limit })) {
    result.push(manifest);
    if (result.length >= limit) break;
  }
  return result;
}

function olderThan(sorted: ManifestEntry[], before: string): ManifestEntry[] {
  const cursor = sorted.findIndex((entry) => entry.filename === before);
  if (cursor !== -1) return sorted.slice(cursor + 1);
  const fromName = timeOfBackupName(before);
  const limit = Number.isNaN(fromName) ? Date.parse(before) : fromName;
  if (Number.isNaN(limit)) {
    throw new BackupError('MANIFEST_INVALID', `"before" must be an ISO time or a backup file name`);
  }
  return sorted.filter((entry) => !Number.isNaN(entry.time) && entry.time < limit);
}
