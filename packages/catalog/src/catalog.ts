import { BackupError, errorMessage } from '@warden/errors';
import type { BackupStorage } from '@warden/storage';
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
  return value as unknown as BackupManifest;
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
function compareNewestFirst(a: BackupManifest, b: BackupManifest): number {
  const byTime = Date.parse(b.started_at) - Date.parse(a.started_at);
  if (byTime !== 0) return byTime;
  return a.filename < b.filename ? 1 : a.filename > b.filename ? -1 : 0;
}

const FILENAME_TIMESTAMP = /_(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})\.sql\.(?:gz|zst)$/;

const READ_CONCURRENCY = 8;

/**
 * The catalog: every valid manifest in the store (or of one target), newest first. Objects that are
 * not manifests, do not parse, or sit under another target's prefix are ignored.
 */
export async function listBackups(
  storage: BackupStorage,
  options: ListBackupsOptions = {},
): Promise<BackupManifest[]> {
  const prefix = options.target === undefined ? '' : `${options.target}/`;
  const objects = (await storage.list(prefix)).filter((object) => object.key.endsWith(MANIFEST_SUFFIX));
  const manifests: BackupManifest[] = [];
  let next = 0;
  const worker = async () => {
    while (next < objects.length) {
      const object = objects[next++];
      if (!object) break;
      try {
        const manifest = parseManifestBytes(await storage.readBytes(object.key));
        // A manifest must describe the object it sits beside, under its own target's prefix.
        if (manifestKeyFor(manifest.key) !== object.key) continue;
        if (options.target !== undefined && manifest.target !== options.target) continue;
        manifests.push(manifest);
      } catch {
        // Foreign, corrupt or concurrently deleted objects are not backups.
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, objects.length) }, worker));
  manifests.sort(compareNewestFirst);

  let result = manifests;
  if (options.before !== undefined) result = olderThan(manifests, options.before);
  if (options.limit !== undefined) result = result.slice(0, Math.max(0, options.limit));
  return result;
}

function olderThan(sorted: BackupManifest[], before: string): BackupManifest[] {
  const cursor = sorted.findIndex((manifest) => manifest.filename === before);
  if (cursor !== -1) return sorted.slice(cursor + 1);
  const match = FILENAME_TIMESTAMP.exec(before);
  const limit = match
    ? Date.UTC(+match[1]!, +match[2]! - 1, +match[3]!, +match[4]!, +match[5]!, +match[6]!)
    : Date.parse(before);
  if (Number.isNaN(limit)) {
    throw new BackupError('MANIFEST_INVALID', `"before" must be an ISO time or a backup file name`);
  }
  return sorted.filter((manifest) => Date.parse(manifest.started_at) < limit);
}
