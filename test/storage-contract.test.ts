import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { StorageError } from '@warden/errors';
import {
  type BackupStorage,
  createLocalStorage,
  createS3Storage,
  type S3StorageOptions,
} from '@warden/storage';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  S3RVER_CREDENTIALS,
  S3RVER_REGION,
  type S3TestServer,
  s3rverStorageOptions,
  startS3Server,
} from './helpers/s3-server.js';

const MIB = 1024 * 1024;

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Yields `data` in uneven chunks, like a pipe from a compressor would. */
function chunkedStream(data: Buffer): Readable {
  return Readable.from(
    (function* () {
      let offset = 0;
      let step = 1;
      while (offset < data.length) {
        const size = 1000 + ((step * 7919) % 300_000);
        yield data.subarray(offset, offset + size);
        offset += size;
        step += 1;
      }
    })(),
  );
}

/** Emits `bytesBeforeError` random bytes, then fails like a dump process dying midway. */
function failingStream(bytesBeforeError: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= bytesBeforeError) {
        this.destroy(new Error('source failed midway'));
        return;
      }
      const size = Math.min(256 * 1024, bytesBeforeError - sent);
      sent += size;
      this.push(randomBytes(size));
    },
  });
}

/** Emits data slowly and never ends on its own: only an abort can stop it. */
function endlessStream(): Readable {
  let timer: NodeJS.Timeout | undefined;
  return new Readable({
    read() {
      timer = setTimeout(() => this.push(randomBytes(64 * 1024)), 5);
    },
    destroy(error, callback) {
      clearTimeout(timer);
      callback(error);
    },
  });
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

async function expectStorageError(
  promise: Promise<unknown>,
  code: StorageError['code'],
): Promise<StorageError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(StorageError);
  expect((error as StorageError).code).toBe(code);
  return error as StorageError;
}

interface ContractSubject {
  storage: BackupStorage;
  /** Every entry the backend holds for this storage, temp files and raw S3 keys included. */
  rawEntries(): Promise<string[]>;
  cleanup(): Promise<void>;
}

interface ContractOptions {
  /** Whether `head` returns the sha256 given at upload time (S3 keeps it as metadata). */
  headKeepsSha256: boolean;
  /** Checks `describe(key)` for this backend. */
  describedAs(storage: BackupStorage, key: string): string;
}

/** The one battery every BackupStorage implementation must pass. */
function storageContract(
  name: string,
  create: () => Promise<ContractSubject>,
  options: ContractOptions,
): void {
  describe(`BackupStorage contract: ${name}`, () => {
    let subject: ContractSubject;
    let storage: BackupStorage;

    beforeEach(async () => {
      subject = await create();
      storage = subject.storage;
    });
    afterEach(async () => {
      await subject.storage.close();
      await subject.cleanup();
    });

    it('round-trips bytes and strings byte-exact', async () => {
      const data = randomBytes(70_000);
      const stored = await storage.putBytes('app/bytes.bin', data);
      expect(stored.key).toBe('app/bytes.bin');
      expect(stored.size).toBe(data.length);
      expect(stored.sha256).toBe(sha256(data));
      expect(stored.lastModified).toBeInstanceOf(Date);
      expect((await storage.readBytes('app/bytes.bin')).equals(data)).toBe(true);

      await storage.putBytes('app/text.json', '{"ok":true,"é":1}', { contentType: 'application/json' });
      expect((await storage.readBytes('app/text.json')).toString('utf8')).toBe('{"ok":true,"é":1}');
    });

    it('round-trips a file byte-exact and reads it back as a stream', async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'warden-contract-file-'));
      try {
        const data = randomBytes(1_500_000);
        const file = path.join(dir, 'dump.sql.gz');
        await writeFile(file, data);
        const stored = await storage.putFile('app/dump.sql.gz', file);
        expect(stored.size).toBe(data.length);
        expect(stored.sha256).toBe(sha256(data));
        expect((await readAll(await storage.read('app/dump.sql.gz'))).equals(data)).toBe(true);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('round-trips a 12 MB stream (multipart on S3) byte-exact with the stored size checked', async () => {
      const data = randomBytes(12 * MIB + 12_345);
      const progress: number[] = [];
      const stored = await storage.putStream('app/big.sql.gz', chunkedStream(data), {
        onProgress: (bytes) => progress.push(bytes),
      });
      expect(stored.size).toBe(data.length);
      expect(stored.sha256).toBe(sha256(data));
      expect(progress.length).toBeGreaterThan(0);
      expect(progress.at(-1)).toBe(data.length);
      expect(progress).toEqual([...progress].sort((a, b) => a - b));

      const head = await storage.head('app/big.sql.gz');
      expect(head?.size).toBe(data.length);
      const back = await storage.readBytes('app/big.sql.gz');
      expect(back.length).toBe(data.length);
      expect(sha256(back)).toBe(sha256(data));
    });

    it('heads present and absent keys', async () => {
      expect(await storage.head('app/missing.sql.gz')).toBeUndefined();
      expect(await storage.head('nowhere/at/all')).toBeUndefined();
      const before = Date.now();
      await storage.putBytes('app/present.txt', 'hello');
      const head = await storage.head('app/present.txt');
      expect(head).toMatchObject({ key: 'app/present.txt', size: 5 });
      // Stores keep second precision at best; allow for that and a little clock skew.
      expect(head?.lastModified.getTime()).toBeGreaterThan(before - 5_000);
      // A "folder" is not an object.
      expect(await storage.head('app')).toBeUndefined();
    });

    it('keeps the sha256 given at upload time and refuses content that does not match it', async () => {
      const data = randomBytes(200_000);
      const digest = sha256(data);
      const stored = await storage.putStream('app/with-sha.bin', chunkedStream(data), { sha256: digest });
      expect(stored.sha256).toBe(digest);
      const head = await storage.head('app/with-sha.bin');
      if (options.headKeepsSha256) expect(head?.sha256).toBe(digest);
      else expect(head?.sha256).toBeUndefined();

      const wrong = sha256(Buffer.from('something else'));
      await expectStorageError(
        storage.putStream('app/bad-sha.bin', chunkedStream(data), { sha256: wrong }),
        'STORAGE_UPLOAD_FAILED',
      );
      expect(await storage.head('app/bad-sha.bin')).toBeUndefined();
    });

    it('overwrites an existing key', async () => {
      await storage.putBytes('app/same.txt', 'first version');
      await storage.putBytes('app/same.txt', 'second');
      expect((await storage.readBytes('app/same.txt')).toString()).toBe('second');
      expect((await storage.head('app/same.txt'))?.size).toBe(6);
    });

    it('lists by prefix in key order, never mixing app/ with app2/', async () => {
      const keys = [
        'app2/c.sql.gz',
        'app/sub/b.sql.gz',
        'zeta.txt',
        'app/a.sql.gz',
        'apple.txt',
        'app/A.sql.gz',
      ];
      for (const key of keys) await storage.putBytes(key, key);

      const app = await storage.list('app/');
      expect(app.map((object) => object.key)).toEqual(['app/A.sql.gz', 'app/a.sql.gz', 'app/sub/b.sql.gz']);
      expect(app[1]).toMatchObject({ size: 'app/a.sql.gz'.length });
      expect(app[1]?.lastModified).toBeInstanceOf(Date);

      expect((await storage.list('app2/')).map((object) => object.key)).toEqual(['app2/c.sql.gz']);
      expect((await storage.list('app')).map((object) => object.key)).toEqual([
        'app/A.sql.gz',
        'app/a.sql.gz',
        'app/sub/b.sql.gz',
        'app2/c.sql.gz',
        'apple.txt',
      ]);
      expect((await storage.list('app/a')).map((object) => object.key)).toEqual(['app/a.sql.gz']);
      expect((await storage.list('')).map((object) => object.key)).toEqual([...keys].sort());
      expect(await storage.list('nothing/')).toEqual([]);
    });

    it('reports a missing key on read as STORAGE_NOT_FOUND', async () => {
      await expectStorageError(storage.read('app/missing.sql.gz'), 'STORAGE_NOT_FOUND');
      await expectStorageError(storage.readBytes('app/missing.sql.gz'), 'STORAGE_NOT_FOUND');
    });

    it('deletes, and deleting a missing key is not an error', async () => {
      await storage.putBytes('app/gone.txt', 'bye');
      await storage.putBytes('app/kept.txt', 'stay');
      await storage.delete('app/gone.txt');
      expect(await storage.head('app/gone.txt')).toBeUndefined();
      expect((await storage.list('app/')).map((object) => object.key)).toEqual(['app/kept.txt']);
      await expect(storage.delete('app/gone.txt')).resolves.toBeUndefined();
      await expect(storage.delete('never/was.txt')).resolves.toBeUndefined();
    });

    it('rejects unsafe keys and prefixes', async () => {
      for (const key of ['../x', '/abs', 'a//b', 'a/../../b', 'a/./b', 'a\\b', '', 'trailing/']) {
        await expectStorageError(storage.putBytes(key, 'x'), 'STORAGE_INVALID_KEY');
        await expectStorageError(
          storage.putStream(key, Readable.from([Buffer.from('x')])),
          'STORAGE_INVALID_KEY',
        );
        await expectStorageError(storage.head(key), 'STORAGE_INVALID_KEY');
        await expectStorageError(storage.read(key), 'STORAGE_INVALID_KEY');
        await expectStorageError(storage.readBytes(key), 'STORAGE_INVALID_KEY');
        await expectStorageError(storage.delete(key), 'STORAGE_INVALID_KEY');
        expect(() => storage.describe(key)).toThrow(StorageError);
      }
      await expectStorageError(storage.list('../'), 'STORAGE_INVALID_KEY');
      await expectStorageError(storage.list('/abs'), 'STORAGE_INVALID_KEY');
      expect(await subject.rawEntries()).toEqual([]);
    });

    it('leaves nothing behind when the source stream fails midway', async () => {
      // Past one part (5 MiB), so S3 has a multipart upload under way when the source fails.
      const error = await expectStorageError(
        storage.putStream('app/broken.sql.gz', failingStream(9 * MIB)),
        'STORAGE_UPLOAD_FAILED',
      );
      expect(error.message).toContain('app/broken.sql.gz');
      expect(await storage.head('app/broken.sql.gz')).toBeUndefined();
      expect(await storage.list('')).toEqual([]);
      expect(await subject.rawEntries()).toEqual([]);

      // A small stream that fails before any part is complete.
      await expectStorageError(
        storage.putStream('app/broken.sql.gz', failingStream(1000)),
        'STORAGE_UPLOAD_FAILED',
      );
      expect(await subject.rawEntries()).toEqual([]);
    });

    it('shows nothing while a write is under way, and stops on abort leaving nothing behind', async () => {
      const controller = new AbortController();
      const source = endlessStream();
      const put = storage.putStream('app/aborted.sql.gz', source, { signal: controller.signal });
      const outcome = put.then(
        () => undefined,
        (error: unknown) => error,
      );
      // Data flows for a while (a local temp file grows, S3 buffers its first part)...
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await storage.head('app/aborted.sql.gz')).toBeUndefined();
      expect(await storage.list('')).toEqual([]);
      controller.abort();
      const error = await outcome;
      expect(error).toBeInstanceOf(StorageError);
      expect((error as StorageError).code).toBe('STORAGE_UPLOAD_FAILED');
      expect(source.destroyed).toBe(true);
      expect(await storage.head('app/aborted.sql.gz')).toBeUndefined();
      expect(await subject.rawEntries()).toEqual([]);
    });

    it('describes its location and keys without secrets', () => {
      expect(storage.describe('app/x.sql.gz')).toBe(options.describedAs(storage, 'app/x.sql.gz'));
      expect(storage.location).not.toContain(S3RVER_CREDENTIALS.secretAccessKey);
    });
  });
}

// Local directory.
async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((entry) => !entry.isDirectory())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

storageContract(
  'local directory',
  async () => {
    const base = await mkdtemp(path.join(tmpdir(), 'warden-local-storage-'));
    // A root that does not exist yet: the storage must create it on demand.
    const dir = path.join(base, 'backups');
    return {
      storage: createLocalStorage({ dir }),
      rawEntries: () => listTree(dir),
      cleanup: () => rm(base, { recursive: true, force: true }),
    };
  },
  {
    headKeepsSha256: false,
    describedAs: (storage, key) => path.join(storage.location, ...key.split('/')),
  },
);

// S3 (s3rver), at the bucket root and under a prefix.
let s3: S3TestServer;
let rawClient: S3Client;
let bucketCounter = 0;

function s3Options(bucket: string, prefix: string): S3StorageOptions {
  return s3rverStorageOptions(s3.endpoint, bucket, prefix);
}

async function rawKeys(bucket: string, prefix = ''): Promise<string[]> {
  const page = await rawClient.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (page.Contents ?? []).map((item) => item.Key ?? '').sort();
}

beforeAll(async () => {
  s3 = await startS3Server({ buckets: ['warden-shared'] });
  rawClient = new S3Client({
    region: S3RVER_REGION,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
});

afterAll(async () => {
  rawClient?.destroy();
  await s3?.stop();
});

storageContract(
  'S3 bucket root',
  async () => {
    bucketCounter += 1;
    const bucket = `warden-contract-${bucketCounter}`;
    await rawClient.send(new CreateBucketCommand({ Bucket: bucket }));
    return {
      storage: createS3Storage(s3Options(bucket, '')),
      rawEntries: () => rawKeys(bucket),
      cleanup: async () => undefined,
    };
  },
  {
    headKeepsSha256: true,
    describedAs: (storage, key) => `${storage.location}${key}`,
  },
);

storageContract(
  'S3 under a prefix',
  async () => {
    // A sibling prefix sharing the same leading text must stay invisible to this storage.
    const prefix = `nested/p-${randomUUID()}`;
    const decoy = createS3Storage(s3Options('warden-shared', `${prefix}x`));
    await decoy.putBytes('app/decoy.txt', 'not yours');
    await decoy.close();
    return {
      storage: createS3Storage(s3Options('warden-shared', prefix)),
      rawEntries: () => rawKeys('warden-shared', `${prefix}/`),
      cleanup: async () => undefined,
    };
  },
  {
    headKeepsSha256: true,
    describedAs: (storage, key) => `${storage.location}${key}`,
  },
);

describe('S3 storage specifics', () => {
  it('stores keys under the prefix, strips it when listing and names locations after it', async () => {
    const storage = createS3Storage(s3Options('warden-shared', 'specifics/run'));
    try {
      expect(storage.location).toBe('s3://warden-shared/specifics/run/');
      expect(storage.describe('app/x.sql.gz')).toBe('s3://warden-shared/specifics/run/app/x.sql.gz');
      await storage.putBytes('app/x.sql.gz', 'payload');
      expect(await rawKeys('warden-shared', 'specifics/')).toEqual(['specifics/run/app/x.sql.gz']);
      expect((await storage.list('app/')).map((object) => object.key)).toEqual(['app/x.sql.gz']);
    } finally {
      await storage.delete('app/x.sql.gz');
      await storage.close();
    }
  });

  it('lists across pages', async () => {
    const storage = createS3Storage(s3Options('warden-shared', `paged-${randomUUID()}/`));
    try {
      // s3rver pages at 1,000 keys like S3.
      const keys = Array.from({ length: 1_005 }, (_, index) => `many/${String(index).padStart(5, '0')}`);
      for (let index = 0; index < keys.length; index += 50) {
        await Promise.all(keys.slice(index, index + 50).map((key) => storage.putBytes(key, 'x')));
      }
      const listed = await storage.list('many/');
      expect(listed.map((object) => object.key)).toEqual(keys);
    } finally {
      await storage.close();
    }
  });

  it('leaves an injected client open on close', async () => {
    const client = new S3Client({
      region: S3RVER_REGION,
      endpoint: s3.endpoint,
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    try {
      const storage = createS3Storage({ ...s3Options('warden-shared', 'injected'), client });
      await storage.putBytes('a.txt', 'a');
      await storage.close();
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: 'warden-shared', Prefix: 'injected/' }),
      );
      expect(page.Contents?.map((item) => item.Key)).toEqual(['injected/a.txt']);
    } finally {
      client.destroy();
    }
  });

  it('refuses an upload whose stored size differs from what was sent, and removes it', async () => {
    // Reproduces what s3rver does with aws-chunked bodies: it answers 200 but stores extra bytes.
    // Here a client middleware appends the framing; the store really keeps the longer object.
    const client = new S3Client({
      region: S3RVER_REGION,
      endpoint: s3.endpoint,
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    client.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { method?: string; body?: unknown; headers?: Record<string, string> };
        if (request.method === 'PUT' && request.body instanceof Uint8Array && request.headers) {
          const framed = Buffer.concat([request.body, Buffer.from('\r\n0;chunk-signature=00\r\n')]);
          request.body = framed;
          request.headers['content-length'] = String(framed.length);
        }
        return next(args);
      },
      { step: 'build', priority: 'low', name: 'appendChunkFraming' },
    );
    const storage = createS3Storage({ ...s3Options('warden-shared', 'framed'), client });
    try {
      const data = randomBytes(3_000_000);
      const error = await expectStorageError(
        storage.putStream('framed.bin', chunkedStream(data)),
        'STORAGE_UPLOAD_FAILED',
      );
      expect(error.message).toMatch(/stored 30000\d\d bytes but sent 3000000/);
      // The corrupt object is not left for a reader to trust.
      expect(await rawKeys('warden-shared', 'framed/')).toEqual([]);
    } finally {
      await storage.close();
      client.destroy();
    }
  });

  it('fails against a dead endpoint with a StorageError that names no credentials', async () => {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.on('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    const accessKeyId = 'AKIAWARDENTESTKEY7Q2Z';
    const secretAccessKey = 'wArDeN/SeCrEt+KeY/9f8e7d6c5b4a3210zyxwvu';
    const storage = createS3Storage({
      bucket: 'backups',
      region: 'us-east-1',
      accessKeyId,
      secretAccessKey,
      endpoint: `http://127.0.0.1:${port}`,
      forcePathStyle: true,
      prefix: 'prod/',
      checksumWhenRequired: true,
      connectionTimeoutMs: 2_000,
    });
    try {
      const failures = [
        await expectStorageError(
          storage.putBytes('app/x.sql.gz', randomBytes(1000)),
          'STORAGE_UPLOAD_FAILED',
        ),
        await expectStorageError(
          storage.putStream('app/y.sql.gz', chunkedStream(randomBytes(100_000))),
          'STORAGE_UPLOAD_FAILED',
        ),
        await expectStorageError(storage.head('app/x.sql.gz'), 'STORAGE_UNAVAILABLE'),
        await expectStorageError(storage.list('app/'), 'STORAGE_UNAVAILABLE'),
        await expectStorageError(storage.read('app/x.sql.gz'), 'STORAGE_UNAVAILABLE'),
        await expectStorageError(storage.delete('app/x.sql.gz'), 'STORAGE_UNAVAILABLE'),
      ];
      for (const failure of failures) {
        expect(failure.message).toContain('bucket backups');
        const everything = [
          failure.message,
          String(failure.stack),
          JSON.stringify(failure),
          String((failure.cause as Error | undefined)?.message),
          String((failure.cause as Error | undefined)?.stack),
          JSON.stringify(failure.cause),
        ].join('\n');
        expect(everything).not.toContain(secretAccessKey);
        expect(everything).not.toContain(accessKeyId);
      }
      expect(failures[0]?.message).toMatch(/ECONNREFUSED/);
    } finally {
      await storage.close();
    }
  });
});
