import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline, Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type PutObjectCommandInput,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createSecretScrubber, StorageError } from '@warden/errors';
import { createByteMeter } from './byte-meter.js';
import {
  assertSafeKey,
  assertSafePrefix,
  type BackupStorage,
  type PutOptions,
  type StoredObject,
} from './storage.js';

/** Options of {@link createS3Storage}; mirrors the `s3` kind of the configuration's storage. */
export interface S3StorageOptions {
  bucket: string;
  region: string;
  /** With `secretAccessKey`; when either is missing the SDK's default credential chain applies. */
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
  /** Custom endpoint for S3-compatible stores (MinIO, s3rver…). */
  endpoint?: string | undefined;
  /** Path-style addressing (`endpoint/bucket/key`), needed by most S3-compatible stores. */
  forcePathStyle: boolean;
  /**
   * Prefix under which every key lives; `''` for the bucket root. A missing trailing `/` is added.
   * @defaultValue `''`
   */
  prefix: string;
  serverSideEncryption?: 'AES256' | 'aws:kms' | undefined;
  /** KMS key for `aws:kms`; the bucket's default key when absent. */
  kmsKeyId?: string | undefined;
  /**
   * Only compute and validate checksums when an operation requires them. S3-compatible stores that
   * do not understand `aws-chunked` bodies store the chunk framing inside the object otherwise
   * (docs/architecture.md#library-traps).
   */
  checksumWhenRequired: boolean;
  /** An S3 client to use instead of building one; it is left open by `close()`. */
  client?: S3Client | undefined;
  /**
   * Milliseconds to wait for a TCP connection before the attempt fails.
   * @defaultValue 10000
   */
  connectionTimeoutMs?: number | undefined;
  /**
   * Attempts per request (the SDK's own retry, for transient errors).
   * @defaultValue 3
   */
  maxAttempts?: number | undefined;
}

const MIB = 1024 * 1024;
/**
 * Each buffered part costs memory `queueSize` times over (and the GC frees finished parts lazily), so
 * parts start at S3's 5 MiB minimum: measured, the worker's peak while streaming a 69 MB dump fell from
 * ~208 MB with 8 MiB parts to ~195 MB. Two parts in flight already keep a local or same-region store
 * busy while the next part fills; very large dumps get bigger parts (10,000-part limit).
 */
const MIN_PART_SIZE = 5 * MIB;
const QUEUE_SIZE = 2;
/** S3 allows 10,000 parts; leave room for an `expectedSize` that was an underestimate. */
const TARGET_MAX_PARTS = 9_000;
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Part size for an upload: at least 8 MiB, large enough to stay under 10,000 parts. */
export function choosePartSize(expectedSize: number | undefined): number {
  if (expectedSize === undefined || !Number.isFinite(expectedSize) || expectedSize <= 0) return MIN_PART_SIZE;
  const needed = Math.ceil(expectedSize / TARGET_MAX_PARTS / MIB) * MIB;
  return Math.max(MIN_PART_SIZE, needed);
}

function normalizePrefix(prefix: string): string {
  if (prefix === '') return '';
  const withSlash = prefix.endsWith('/') ? prefix : `${prefix}/`;
  assertSafePrefix(withSlash);
  return withSlash;
}

interface SdkErrorShape {
  name?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: number };
}

function statusOf(error: unknown): number | undefined {
  return (error as SdkErrorShape | undefined)?.$metadata?.httpStatusCode;
}

function isNotFound(error: unknown): boolean {
  const name = (error as SdkErrorShape | undefined)?.name;
  return name === 'NoSuchKey' || name === 'NotFound' || statusOf(error) === 404;
}

/** A BackupStorage over an S3 bucket (AWS or an S3-compatible store). */
export function createS3Storage(options: S3StorageOptions): BackupStorage {
  const bucket = options.bucket;
  const prefix = normalizePrefix(options.prefix);
  const location = `s3://${bucket}/${prefix}`;
  const secrets = [options.secretAccessKey, options.accessKeyId].filter(
    (value): value is string => typeof value === 'string' && value.length > 0,
  );

  const ownsClient = options.client === undefined;
  const client = options.client ?? new S3Client(clientConfig(options));

  /** Error text from the SDK, with any credential that might appear in it replaced. */
  const scrub = createSecretScrubber(secrets);

  /**
   * SDK errors can carry request details (service exceptions copy unmodelled XML fields such as
   * `AWSAccessKeyId` onto themselves), so the cause we keep is a scrubbed copy, not the original.
   */
  function safeCause(error: unknown): Error {
    const source = error as SdkErrorShape & { stack?: unknown };
    const name = typeof source?.name === 'string' ? source.name : 'Error';
    const message = typeof source?.message === 'string' ? source.message : String(error);
    const copy = new Error(scrub(message));
    copy.name = name;
    copy.stack = typeof source?.stack === 'string' ? scrub(source.stack) : copy.stack;
    const status = statusOf(error);
    if (status !== undefined) Object.assign(copy, { httpStatusCode: status });
    return copy;
  }

  function describeError(error: unknown): string {
    const cause = safeCause(error);
    const status = statusOf(error);
    const detail =
      cause.message && cause.message !== cause.name ? `${cause.name}: ${cause.message}` : cause.name;
    return status === undefined ? detail : `${detail} (HTTP ${status})`;
  }

  function fail(code: StorageError['code'], what: string, error: unknown): StorageError {
    return new StorageError(code, `${what} in bucket ${bucket} failed: ${describeError(error)}`, {
      cause: safeCause(error),
    });
  }

  function fullKey(key: string): string {
    assertSafeKey(key);
    return `${prefix}${key}`;
  }

  async function headFull(key: string): Promise<StoredObject | undefined> {
    try {
      const result = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: `${prefix}${key}` }));
      const sha256 = result.Metadata?.sha256;
      return {
        key,
        size: result.ContentLength ?? 0,
        lastModified: result.LastModified ?? new Date(0),
        ...(sha256 !== undefined && SHA256_HEX.test(sha256) ? { sha256 } : {}),
      };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw fail('STORAGE_UNAVAILABLE', `S3 head of ${key}`, error);
    }
  }

  async function deleteQuietly(key: string): Promise<void> {
    await client
      .send(new DeleteObjectCommand({ Bucket: bucket, Key: `${prefix}${key}` }))
      .catch(() => undefined);
  }

  /**
   * Uploads `body` and then checks, with a HEAD, that the store holds exactly the bytes we sent:
   * some S3-compatible stores answer 200 yet store a different object (docs/architecture.md#library-traps).
   */
  async function upload(
    key: string,
    body: Readable | Buffer,
    putOptions: PutOptions = {},
  ): Promise<StoredObject> {
    const objectKey = fullKey(key);
    const expectedSha = putOptions.sha256?.toLowerCase();
    if (expectedSha !== undefined && !SHA256_HEX.test(expectedSha)) {
      throw new StorageError(
        'STORAGE_UPLOAD_FAILED',
        `S3 upload of ${key}: sha256 option is not a hex SHA-256`,
      );
    }
    if (putOptions.signal?.aborted) {
      if (body instanceof Readable) body.destroy();
      throw new StorageError('STORAGE_UPLOAD_FAILED', `S3 upload of ${key} to bucket ${bucket} was aborted`, {
        cause: putOptions.signal.reason,
      });
    }

    let sentBytes: () => number;
    let sentSha: () => string;
    let uploadBody: Readable | Buffer;
    let meterStream: Readable | undefined;
    if (Buffer.isBuffer(body)) {
      const digest = createHash('sha256').update(body).digest('hex');
      sentBytes = () => body.length;
      sentSha = () => digest;
      uploadBody = body;
    } else {
      const meter = createByteMeter();
      // pipeline carries an error of the source to the meter, so the Upload reading it fails too,
      // and destroys the source when we give up on the meter. The outcome is observed by Upload.
      pipeline(body, meter.stream, () => undefined);
      sentBytes = meter.bytes;
      sentSha = meter.sha256;
      uploadBody = meter.stream;
      meterStream = meter.stream;
    }

    // The whole-content hash can only go into metadata up front when the caller knows it (a
    // multipart upload fixes metadata before the first part); bytes are hashed here first.
    const metadataSha = expectedSha ?? (Buffer.isBuffer(body) ? sentSha() : undefined);
    const params: PutObjectCommandInput = {
      Bucket: bucket,
      Key: objectKey,
      Body: uploadBody,
      ...(putOptions.contentType !== undefined ? { ContentType: putOptions.contentType } : {}),
      ...(metadataSha !== undefined ? { Metadata: { sha256: metadataSha } } : {}),
      ...(options.serverSideEncryption !== undefined
        ? { ServerSideEncryption: options.serverSideEncryption }
        : {}),
      ...(options.serverSideEncryption === 'aws:kms' && options.kmsKeyId !== undefined
        ? { SSEKMSKeyId: options.kmsKeyId }
        : {}),
    };

    const abortController = new AbortController();
    const onAbort = () => abortController.abort();
    putOptions.signal?.addEventListener('abort', onAbort, { once: true });
    const uploader = new Upload({
      client,
      params,
      queueSize: QUEUE_SIZE,
      partSize: choosePartSize(putOptions.expectedSize ?? (Buffer.isBuffer(body) ? body.length : undefined)),
      // We abort the multipart upload ourselves so that a failing abort (some S3-compatible stores
      // do not implement it) cannot replace the error that actually stopped the upload.
      leavePartsOnError: true,
      abortController,
    });
    const onProgress = putOptions.onProgress;
    if (onProgress) {
      uploader.on('httpUploadProgress', (progress) => {
        if (progress.loaded !== undefined) onProgress(progress.loaded);
      });
    }

    try {
      await uploader.done();
    } catch (error) {
      meterStream?.destroy();
      if (body instanceof Readable) body.destroy();
      if (uploader.uploadId !== undefined) {
        await client
          .send(
            new AbortMultipartUploadCommand({ Bucket: bucket, Key: objectKey, UploadId: uploader.uploadId }),
          )
          .catch(() => undefined);
      }
      if (putOptions.signal?.aborted) {
        throw new StorageError(
          'STORAGE_UPLOAD_FAILED',
          `S3 upload of ${key} to bucket ${bucket} was aborted`,
          {
            cause: putOptions.signal.reason,
          },
        );
      }
      throw fail('STORAGE_UPLOAD_FAILED', `S3 upload of ${key}`, error);
    } finally {
      putOptions.signal?.removeEventListener('abort', onAbort);
    }

    const sent = sentBytes();
    const sha256 = sentSha();
    let stored: StoredObject | undefined;
    try {
      stored = await headFull(key);
    } catch (error) {
      throw new StorageError(
        'STORAGE_UPLOAD_FAILED',
        `S3 upload of ${key} could not be checked (HEAD failed): ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    if (stored === undefined) {
      throw new StorageError(
        'STORAGE_UPLOAD_FAILED',
        `S3 upload of ${key} to bucket ${bucket} failed: the object is missing after the upload`,
      );
    }
    if (stored.size !== sent) {
      // The object is corrupt; leaving it would let a later reader trust it.
      await deleteQuietly(key);
      throw new StorageError(
        'STORAGE_UPLOAD_FAILED',
        `S3 upload of ${key} to bucket ${bucket} failed: stored ${stored.size} bytes but sent ${sent}`,
      );
    }
    if (expectedSha !== undefined && expectedSha !== sha256) {
      await deleteQuietly(key);
      throw new StorageError(
        'STORAGE_UPLOAD_FAILED',
        `S3 upload of ${key} to bucket ${bucket} failed: content SHA-256 ${sha256} differs from the expected ${expectedSha}`,
      );
    }
    return { ...stored, sha256 };
  }

  return {
    location,
    prefersStreamedUpload: true,

    describe(key) {
      return `s3://${bucket}/${fullKey(key)}`;
    },

    async putFile(key, filePath, putOptions) {
      assertSafeKey(key);
      return upload(key, createReadStream(filePath), putOptions);
    },

    async putStream(key, body, putOptions) {
      return upload(key, body, putOptions);
    },

    async putBytes(key, body, putOptions) {
      return upload(key, typeof body === 'string' ? Buffer.from(body) : body, putOptions);
    },

    async head(key) {
      assertSafeKey(key);
      return headFull(key);
    },

    async list(listPrefix) {
      assertSafePrefix(listPrefix);
      const found: StoredObject[] = [];
      let continuationToken: string | undefined;
      try {
        do {
          const page = await client.send(
            new ListObjectsV2Command({
              Bucket: bucket,
              Prefix: `${prefix}${listPrefix}`,
              ...(continuationToken !== undefined ? { ContinuationToken: continuationToken } : {}),
            }),
          );
          for (const item of page.Contents ?? []) {
            if (item.Key === undefined || !item.Key.startsWith(prefix)) continue;
            const key = item.Key.slice(prefix.length);
            // Folder markers made by consoles are not objects of ours.
            if (key === '' || key.endsWith('/')) continue;
            found.push({
              key,
              size: item.Size ?? 0,
              lastModified: item.LastModified ?? new Date(0),
              ...(item.ETag !== undefined ? { etag: item.ETag } : {}),
            });
          }
          continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (continuationToken !== undefined);
      } catch (error) {
        throw fail('STORAGE_UNAVAILABLE', `S3 list of ${listPrefix || '(all)'}`, error);
      }
      return found.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
    },

    async read(key) {
      const objectKey = fullKey(key);
      try {
        const result = await client.send(new GetObjectCommand({ Bucket: bucket, Key: objectKey }));
        if (!(result.Body instanceof Readable)) {
          throw new Error('response body is not a Node.js stream');
        }
        return result.Body;
      } catch (error) {
        if (isNotFound(error)) {
          throw new StorageError('STORAGE_NOT_FOUND', `object ${key} not found in ${location}`, {
            cause: safeCause(error),
          });
        }
        throw fail('STORAGE_UNAVAILABLE', `S3 read of ${key}`, error);
      }
    },

    async readBytes(key) {
      const objectKey = fullKey(key);
      try {
        const result = await client.send(new GetObjectCommand({ Bucket: bucket, Key: objectKey }));
        if (result.Body === undefined) throw new Error('response has no body');
        return Buffer.from(await result.Body.transformToByteArray());
      } catch (error) {
        if (isNotFound(error)) {
          throw new StorageError('STORAGE_NOT_FOUND', `object ${key} not found in ${location}`, {
            cause: safeCause(error),
          });
        }
        throw fail('STORAGE_UNAVAILABLE', `S3 read of ${key}`, error);
      }
    },

    async delete(key) {
      const objectKey = fullKey(key);
      try {
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: objectKey }));
      } catch (error) {
        if (isNotFound(error)) return;
        throw fail('STORAGE_UNAVAILABLE', `S3 delete of ${key}`, error);
      }
    },

    async close() {
      if (ownsClient) client.destroy();
    },
  };
}

function clientConfig(options: S3StorageOptions): S3ClientConfig {
  const config: S3ClientConfig = {
    region: options.region,
    forcePathStyle: options.forcePathStyle,
    maxAttempts: options.maxAttempts ?? 3,
    requestHandler: { connectionTimeout: options.connectionTimeoutMs ?? 10_000 },
  };
  if (options.endpoint !== undefined) config.endpoint = options.endpoint;
  if (options.accessKeyId && options.secretAccessKey) {
    config.credentials = { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey };
  }
  if (options.checksumWhenRequired) {
    config.requestChecksumCalculation = 'WHEN_REQUIRED';
    config.responseChecksumValidation = 'WHEN_REQUIRED';
  }
  return config;
}
