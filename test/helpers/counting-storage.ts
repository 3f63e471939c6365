import type { BackupStorage } from '@warden/storage';

/** A storage whose object reads (`readBytes`) are counted: what a catalog request costs on S3. */
export interface CountingStorage {
  storage: BackupStorage;
  /** Keys read since the last `reset()`, in order. */
  readonly keysRead: string[];
  reset(): void;
}

export function countingReads(inner: BackupStorage): CountingStorage {
  const keysRead: string[] = [];
  const storage: BackupStorage = {
    location: inner.location,
    prefersStreamedUpload: inner.prefersStreamedUpload,
    describe: (key) => inner.describe(key),
    putFile: (key, filePath, options) => inner.putFile(key, filePath, options),
    putStream: (key, body, options) => inner.putStream(key, body, options),
    putBytes: (key, body, options) => inner.putBytes(key, body, options),
    head: (key) => inner.head(key),
    list: (prefix) => inner.list(prefix),
    read: (key) => inner.read(key),
    readBytes: (key) => {
      keysRead.push(key);
      return inner.readBytes(key);
    },
    delete: (key) => inner.delete(key),
    close: () => inner.close(),
  };
  return {
    storage,
    keysRead,
    reset() {
      keysRead.length = 0;
    },
  };
}
