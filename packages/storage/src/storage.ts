import type { Readable } from 'node:stream';
import { StorageError } from '@warden/errors';

export interface StoredObject {
  /** Key relative to the storage root (S3 prefix or local directory), `/`-separated. */
  key: string;
  size: number;
  lastModified: Date;
  /** Hex SHA-256 when the store keeps one (our own metadata or the store's checksum). */
  sha256?: string;
  /**
   * From `list()`: a tag that changes whenever the object is replaced, even within the second
   * `lastModified` resolves on S3 (S3's ETag; a local file's inode and modification time).
   */
  etag?: string;
}

export interface PutOptions {
  contentType?: string;
  /** Hex SHA-256 of the content; stored as metadata and checked by the store where it can. */
  sha256?: string;
  /** Size in bytes when known; lets S3 choose a part size that stays under 10,000 parts. */
  expectedSize?: number;
  /** Called with the bytes sent so far. */
  onProgress?: (bytesSent: number) => void;
  signal?: AbortSignal;
}

/**
 * Where backups and their manifests live. Implementations: local directory and S3. Writes are
 * atomic: an object is visible under its key only once complete.
 */
export interface BackupStorage {
  /** Human-readable location for results and logs, without secrets: `s3://bucket/prefix/` or a path. */
  readonly location: string;
  /**
   * Whether a backup should be uploaded while it is dumped (`putStream`) rather than after: true
   * where the upload takes real time (S3), false where it gains nothing (a local directory).
   */
  readonly prefersStreamedUpload: boolean;
  /** Location of one key (`s3://bucket/prefix/key` or an absolute path). */
  describe(key: string): string;
  putFile(key: string, filePath: string, options?: PutOptions): Promise<StoredObject>;
  putStream(key: string, body: Readable, options?: PutOptions): Promise<StoredObject>;
  putBytes(key: string, body: Buffer | string, options?: PutOptions): Promise<StoredObject>;
  /** `undefined` when absent. */
  head(key: string): Promise<StoredObject | undefined>;
  /** Every object whose key starts with `prefix`, in key order. */
  list(prefix: string): Promise<StoredObject[]>;
  /** Throws a `StorageError` with code `STORAGE_NOT_FOUND` when absent. */
  read(key: string): Promise<Readable>;
  readBytes(key: string): Promise<Buffer>;
  /** Deleting an absent key is not an error. */
  delete(key: string): Promise<void>;
  close(): Promise<void>;
}

/** Keys are relative, `/`-separated and never climb out of the storage root. */
export function assertSafeKey(key: string): void {
  if (
    key.length === 0 ||
    key.length > 900 ||
    key.startsWith('/') ||
    key.includes('\\') ||
    key.includes('\0') ||
    key.split('/').some((part) => part === '' || part === '.' || part === '..')
  ) {
    throw new StorageError('STORAGE_INVALID_KEY', `invalid storage key "${key.slice(0, 100)}"`);
  }
}

/** A list prefix is empty or a safe key, optionally ending in `/` (a folder) or not (a name start). */
export function assertSafePrefix(prefix: string): void {
  if (prefix === '') return;
  try {
    assertSafeKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
  } catch {
    throw new StorageError('STORAGE_INVALID_KEY', `invalid storage prefix "${prefix.slice(0, 100)}"`);
  }
}
