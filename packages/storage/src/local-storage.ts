import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StorageError } from '@warden/errors';
import { createByteMeter } from './byte-meter.js';
import {
  assertSafeKey,
  assertSafePrefix,
  type BackupStorage,
  type PutOptions,
  type StoredObject,
} from './storage.js';

/** Options of {@link createLocalStorage}. */
export interface LocalStorageOptions {
  /** Root directory; created on the first write. Relative paths resolve against the process cwd. */
  dir: string;
  /**
   * Let the directories' group read backups: files 0640 and folders 0750 instead of 0600 and 0700.
   * Dumps hold whole databases, so others never get any access. @defaultValue false
   */
  groupReadable?: boolean;
}

/** Modes of what local storage writes, set exactly (whatever the process's umask). */
function localStorageModes(groupReadable: boolean): { file: number; dir: number } {
  return groupReadable ? { file: 0o640, dir: 0o750 } : { file: 0o600, dir: 0o700 };
}

/**
 * Temporary files are dot-files in the target's own directory, so the final `rename` never crosses
 * a file system and a half-written object is never under its real name.
 */
const TEMP_NAME = /^\..+\.tmp-[0-9a-f]{16}$/;

function tempPathFor(finalPath: string): string {
  return path.join(
    path.dirname(finalPath),
    `.${path.basename(finalPath)}.tmp-${randomBytes(8).toString('hex')}`,
  );
}

function isErrnoException(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string';
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Key order matches S3's (UTF-8 byte order), not JavaScript's UTF-16 order. */
function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** A directory tree as a `BackupStorage`; writes are atomic through a temp file, fsync and rename. */
export function createLocalStorage(options: LocalStorageOptions): BackupStorage {
  const root = path.resolve(options.dir);
  const modes = localStorageModes(options.groupReadable ?? false);

  /**
   * Makes the folders of `dir` that are missing. `mkdir`'s mode passes through the umask, so each
   * folder made here is given its mode exactly. A folder below the root is Warden's own and gets it
   * even when it exists (one written by a version that left folders 0755); the root and anything
   * above it are left as the operator made them.
   */
  async function makeFolders(dir: string): Promise<void> {
    const first = await mkdir(dir, { recursive: true, mode: modes.dir });
    if (first === undefined) {
      if (dir !== root) await chmod(dir, modes.dir);
      return;
    }
    for (let current = dir; ; current = path.dirname(current)) {
      await chmod(current, modes.dir);
      if (current === first || current === path.dirname(current)) break;
    }
  }

  function pathOf(key: string): string {
    assertSafeKey(key);
    const full = path.join(root, ...key.split('/'));
    // assertSafeKey already forbids `..`; this guards against a future change to it.
    if (!full.startsWith(root + path.sep)) {
      throw new StorageError('STORAGE_INVALID_KEY', `invalid storage key "${key.slice(0, 100)}"`);
    }
    return full;
  }

  async function fsyncPath(target: string): Promise<void> {
    const handle = await open(target, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  async function write(key: string, source: Readable, putOptions: PutOptions = {}): Promise<StoredObject> {
    const finalPath = pathOf(key);
    const tempPath = tempPathFor(finalPath);
    const meter = createByteMeter(putOptions.onProgress);
    try {
      await makeFolders(path.dirname(finalPath));
      const signal = putOptions.signal;
      await pipeline(
        source,
        meter.stream,
        createWriteStream(tempPath, { flags: 'wx', mode: modes.file }),
        signal ? { signal } : {},
      );
      const sha256 = meter.sha256();
      if (putOptions.sha256 !== undefined && putOptions.sha256.toLowerCase() !== sha256) {
        throw new StorageError(
          'STORAGE_UPLOAD_FAILED',
          `write of ${key} failed: content SHA-256 ${sha256} differs from the expected ${putOptions.sha256.toLowerCase()}`,
        );
      }
      // Data must be on disk before the rename makes it visible, or a crash could leave a complete
      // name over incomplete content.
      await fsyncPath(tempPath);
      await chmod(tempPath, modes.file);
      await rename(tempPath, finalPath);
      await fsyncPath(path.dirname(finalPath)).catch(() => {
        // Some file systems refuse fsync on a directory; the rename itself already happened.
      });
      const info = await stat(finalPath);
      return { key, size: info.size, lastModified: info.mtime, sha256 };
    } catch (error) {
      source.destroy();
      await rm(tempPath, { force: true }).catch(() => undefined);
      if (error instanceof StorageError) throw error;
      throw new StorageError(
        'STORAGE_UPLOAD_FAILED',
        `write of ${key} to ${root} failed: ${errorText(error)}`,
        {
          cause: error,
        },
      );
    }
  }

  async function walk(dir: string, relative: string, into: StoredObject[], prefix: string): Promise<void> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      if (isErrnoException(error) && (error.code === 'ENOENT' || error.code === 'ENOTDIR')) return;
      throw error;
    }
    for (const entry of entries) {
      const key = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) {
        // Only descend where keys below could still match the prefix.
        const asPrefix = `${key}/`;
        if (asPrefix.startsWith(prefix) || prefix.startsWith(asPrefix)) {
          await walk(path.join(dir, entry.name), key, into, prefix);
        }
      } else if (entry.isFile() && !TEMP_NAME.test(entry.name) && key.startsWith(prefix)) {
        try {
          const info = await stat(path.join(dir, entry.name));
          // Writes replace the file by a rename, so a rewritten object has a new inode.
          into.push({ key, size: info.size, lastModified: info.mtime, etag: `${info.ino}-${info.mtimeMs}` });
        } catch (error) {
          // Deleted between readdir and stat: it is simply no longer there.
          if (!(isErrnoException(error) && error.code === 'ENOENT')) throw error;
        }
      }
    }
  }

  function notFound(key: string, error: unknown): StorageError {
    return new StorageError('STORAGE_NOT_FOUND', `object ${key} not found in ${root}`, { cause: error });
  }

  function unavailable(operation: string, key: string, error: unknown): StorageError {
    return new StorageError(
      'STORAGE_UNAVAILABLE',
      `${operation} of ${key} in ${root} failed: ${errorText(error)}`,
      {
        cause: error,
      },
    );
  }

  return {
    location: root,
    prefersStreamedUpload: false,

    describe(key) {
      return pathOf(key);
    },

    async putFile(key, filePath, putOptions) {
      pathOf(key);
      return write(key, createReadStream(filePath), putOptions);
    },

    async putStream(key, body, putOptions) {
      return write(key, body, putOptions);
    },

    async putBytes(key, body, putOptions) {
      const bytes = typeof body === 'string' ? Buffer.from(body) : body;
      return write(key, Readable.from([bytes]), putOptions);
    },

    async head(key) {
      const target = pathOf(key);
      try {
        const info = await stat(target);
        if (!info.isFile()) return undefined;
        return { key, size: info.size, lastModified: info.mtime };
      } catch (error) {
        if (isErrnoException(error) && (error.code === 'ENOENT' || error.code === 'ENOTDIR'))
          return undefined;
        throw unavailable('head', key, error);
      }
    },

    async list(prefix) {
      assertSafePrefix(prefix);
      const slash = prefix.lastIndexOf('/');
      const baseKey = slash === -1 ? '' : prefix.slice(0, slash);
      const baseDir = baseKey === '' ? root : path.join(root, ...baseKey.split('/'));
      const found: StoredObject[] = [];
      try {
        await walk(baseDir, baseKey, found, prefix);
      } catch (error) {
        throw unavailable('list', prefix, error);
      }
      return found.sort((a, b) => compareKeys(a.key, b.key));
    },

    async read(key) {
      const target = pathOf(key);
      // Open first so a missing file rejects here instead of erroring later on the stream.
      let handle: import('node:fs/promises').FileHandle;
      try {
        handle = await open(target, 'r');
      } catch (error) {
        if (isErrnoException(error) && (error.code === 'ENOENT' || error.code === 'ENOTDIR')) {
          throw notFound(key, error);
        }
        throw unavailable('read', key, error);
      }
      const info = await handle.stat();
      if (!info.isFile()) {
        await handle.close();
        throw notFound(key, undefined);
      }
      return handle.createReadStream();
    },

    async readBytes(key) {
      const target = pathOf(key);
      try {
        return await readFile(target);
      } catch (error) {
        if (isErrnoException(error) && ['ENOENT', 'ENOTDIR', 'EISDIR'].includes(error.code ?? '')) {
          throw notFound(key, error);
        }
        throw unavailable('read', key, error);
      }
    },

    async delete(key) {
      const target = pathOf(key);
      try {
        await unlink(target);
      } catch (error) {
        if (isErrnoException(error) && (error.code === 'ENOENT' || error.code === 'ENOTDIR')) return;
        throw unavailable('delete', key, error);
      }
    },

    async close() {
      // Nothing is held open between calls.
    },
  };
}
