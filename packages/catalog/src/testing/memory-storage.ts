import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { StorageError } from '@warden/errors';
import { assertSafeKey, type BackupStorage, type StoredObject } from '@warden/storage';

/** An in-memory `BackupStorage` for unit tests (no services). Not exported from the package. */
export function createMemoryStorage(): BackupStorage & {
  objects: Map<string, Buffer>;
  deleted: string[];
  /** Keys `readBytes` was asked for, in order (what a catalog read costs). */
  keysRead: string[];
} {
  const objects = new Map<string, Buffer>();
  const deleted: string[] = [];
  const keysRead: string[] = [];
  // One fixed time for every object: only the size and the etag (the content's hash) tell a rewrite.
  const describeObject = (key: string, body: Buffer): StoredObject => {
    const sha256 = createHash('sha256').update(body).digest('hex');
    return { key, size: body.length, lastModified: new Date(0), sha256, etag: sha256 };
  };
  const put = async (key: string, body: Buffer): Promise<StoredObject> => {
    assertSafeKey(key);
    objects.set(key, body);
    return describeObject(key, body);
  };
  return {
    objects,
    deleted,
    keysRead,
    location: 'memory://',
    prefersStreamedUpload: false,
    describe: (key) => `memory://${key}`,
    putFile: async () => {
      throw new Error('putFile is not supported by the memory storage');
    },
    putStream: async (key, body) => {
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(Buffer.from(chunk as Buffer));
      return put(key, Buffer.concat(chunks));
    },
    putBytes: async (key, body) => put(key, typeof body === 'string' ? Buffer.from(body) : body),
    head: async (key) => {
      const body = objects.get(key);
      return body && describeObject(key, body);
    },
    list: async (prefix) =>
      [...objects.entries()]
        .filter(([key]) => key.startsWith(prefix))
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([key, body]) => describeObject(key, body)),
    read: async (key) => {
      const body = objects.get(key);
      if (!body) throw new StorageError('STORAGE_NOT_FOUND', `object ${key} not found`);
      return Readable.from([body]);
    },
    readBytes: async (key) => {
      keysRead.push(key);
      const body = objects.get(key);
      if (!body) throw new StorageError('STORAGE_NOT_FOUND', `object ${key} not found`);
      return body;
    },
    delete: async (key) => {
      deleted.push(key);
      objects.delete(key);
    },
    close: async () => undefined,
  };
}
