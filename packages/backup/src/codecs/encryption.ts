import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { EncryptionError } from '@warden/errors';

/*
 * Streaming client-side encryption at rest: AES-256-GCM over fixed-size chunks (the STREAM
 * construction used by age and Tink), so a backup of any size encrypts in constant memory and every
 * chunk is authenticated before a byte of it is released.
 *
 *   header (32 bytes): "WDNENC" | version 0x01 | 0x00 | key id (4) | chunk size u32 BE | salt (16)
 *   frame:             length u32 BE (high bit: final frame) | ciphertext (length) | GCM tag (16)
 *
 * Each file gets its own AES key, HKDF-SHA256(master key, salt) with a random salt, so the nonce can
 * be a plain frame counter without ever repeating under one key. The nonce also carries the final
 * flag and the header is every frame's additional data: reordered, dropped, appended or truncated
 * frames and an edited header all fail authentication or the final-frame check.
 */

export const ENCRYPTION_ALGORITHM = 'aes-256-gcm';
/** File name suffix of an encrypted dump (`….sql.gz.enc`). */
export const ENCRYPTED_FILE_SUFFIX = '.enc';

const MAGIC = Buffer.from('WDNENC', 'latin1');
const VERSION = 1;
const HEADER_BYTES = 32;
const FRAME_PREFIX_BYTES = 4;
const TAG_BYTES = 16;
const FINAL_FLAG = 0x8000_0000;
const DEFAULT_CHUNK_BYTES = 64 * 1024;
/** Bounds what a (hostile) header can make the decryptor buffer. */
const MAX_CHUNK_BYTES = 16 * 1024 * 1024;
const HKDF_INFO = Buffer.from('warden backup encryption v1', 'latin1');

/** A 32-byte key, as 64 hex characters (`BACKUP_ENCRYPTION_KEY`) or raw bytes. */
export type EncryptionKey = string | Uint8Array;

function keyBytes(key: EncryptionKey): Buffer {
  if (typeof key === 'string') {
    if (!/^[0-9a-fA-F]{64}$/.test(key)) {
      throw new EncryptionError('ENCRYPTION_KEY_INVALID', 'the encryption key must be 64 hex characters');
    }
    return Buffer.from(key, 'hex');
  }
  if (key.length !== 32) {
    throw new EncryptionError('ENCRYPTION_KEY_INVALID', 'the encryption key must be 32 bytes');
  }
  return Buffer.from(key);
}

function keyIdBytes(key: Buffer): Buffer {
  return createHash('sha256').update(key).digest().subarray(0, 4);
}

/** Public identifier of a key: the first 8 hex characters of its SHA-256. Safe to log and store. */
export function keyIdOf(key: EncryptionKey): string {
  return keyIdBytes(keyBytes(key)).toString('hex');
}

function fileKey(master: Buffer, salt: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', master, salt, HKDF_INFO, 32));
}

function nonceFor(counter: number, final: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64BE(BigInt(counter), 0);
  nonce[11] = final ? 1 : 0;
  return nonce;
}

export interface EncryptStreamOptions {
  /** Plaintext bytes per frame. @defaultValue 65536 */
  chunkBytes?: number;
}

/** Encrypts whatever is written to it into the framed format above. */
export function createEncryptStream(key: EncryptionKey, options: EncryptStreamOptions = {}): Transform {
  const master = keyBytes(key);
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1 || chunkBytes > MAX_CHUNK_BYTES) {
    throw new RangeError(`chunkBytes must be an integer from 1 to ${MAX_CHUNK_BYTES}`);
  }
  const salt = randomBytes(16);
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header[6] = VERSION;
  keyIdBytes(master).copy(header, 8);
  header.writeUInt32BE(chunkBytes, 12);
  salt.copy(header, 16);
  const aesKey = fileKey(master, salt);
  master.fill(0);

  let counter = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let headerSent = false;

  const seal = (plain: Buffer, final: boolean): Buffer[] => {
    const cipher = createCipheriv('aes-256-gcm', aesKey, nonceFor(counter++, final));
    cipher.setAAD(header);
    const prefix = Buffer.alloc(FRAME_PREFIX_BYTES);
    prefix.writeUInt32BE((plain.length | (final ? FINAL_FLAG : 0)) >>> 0, 0);
    const body = cipher.update(plain);
    cipher.final();
    return [prefix, body, cipher.getAuthTag()];
  };

  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      if (!headerSent) {
        this.push(header);
        headerSent = true;
      }
      pending.push(chunk);
      pendingBytes += chunk.length;
      // Strictly more than a chunk: the last chunk is only known at the end, and must be sealed final.
      if (pendingBytes > chunkBytes) {
        let all = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingBytes);
        const out: Buffer[] = [];
        while (all.length > chunkBytes) {
          out.push(...seal(all.subarray(0, chunkBytes), false));
          all = all.subarray(chunkBytes);
        }
        pending = [all];
        pendingBytes = all.length;
        this.push(Buffer.concat(out));
      }
      callback();
    },
    flush(callback: TransformCallback) {
      if (!headerSent) this.push(header);
      const rest = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingBytes);
      this.push(Buffer.concat(seal(rest, true)));
      aesKey.fill(0);
      callback();
    },
  });
}

export interface EncryptedHeader {
  keyId: string;
  chunkBytes: number;
}

/**
 * Reads the header of an encrypted file (its first 32 bytes). Throws `ENCRYPTION_FORMAT_INVALID` when
 * they are not one.
 */
export function parseEncryptedHeader(bytes: Uint8Array): EncryptedHeader {
  const header = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (header.length < HEADER_BYTES || !header.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new EncryptionError('ENCRYPTION_FORMAT_INVALID', 'not a Warden encrypted backup (bad header)');
  }
  if (header[6] !== VERSION || header[7] !== 0) {
    throw new EncryptionError(
      'ENCRYPTION_FORMAT_INVALID',
      `unsupported encrypted backup format version ${header[6]}`,
    );
  }
  const chunkBytes = header.readUInt32BE(12);
  if (chunkBytes < 1 || chunkBytes > MAX_CHUNK_BYTES) {
    throw new EncryptionError('ENCRYPTION_FORMAT_INVALID', `invalid chunk size ${chunkBytes} in header`);
  }
  return { keyId: header.subarray(8, 12).toString('hex'), chunkBytes };
}

/** True when `bytes` start like an encrypted backup. */
export function looksEncrypted(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    .subarray(0, MAGIC.length)
    .equals(MAGIC);
}

/**
 * Decrypts the framed format, releasing only authenticated plaintext. Fails with an
 * {@link EncryptionError}: `ENCRYPTION_KEY_MISMATCH` (checked on the header, before any output),
 * `ENCRYPTION_AUTH_FAILED` (tampered or corrupted), `ENCRYPTION_TRUNCATED` (no final frame) or
 * `ENCRYPTION_FORMAT_INVALID` (not this format, or data after the final frame).
 */
export function createDecryptStream(key: EncryptionKey): Transform {
  const master = keyBytes(key);
  const expectedKeyId = keyIdBytes(master).toString('hex');

  let header: Buffer | undefined;
  let aesKey: Buffer | undefined;
  let chunkBytes = 0;
  let counter = 0;
  let finished = false;
  let buffered: Buffer = Buffer.alloc(0);

  const open = (ciphertext: Buffer, tag: Buffer, final: boolean): Buffer => {
    const decipher = createDecipheriv('aes-256-gcm', aesKey as Buffer, nonceFor(counter, final));
    decipher.setAAD(header as Buffer);
    decipher.setAuthTag(tag);
    const plain = decipher.update(ciphertext);
    try {
      decipher.final();
    } catch (error) {
      throw new EncryptionError(
        'ENCRYPTION_AUTH_FAILED',
        counter === 0
          ? 'the encrypted backup fails authentication: it was modified, or made with another key that has the same key id'
          : `the encrypted backup fails authentication at frame ${counter}: it was modified or corrupted`,
        { cause: error },
      );
    }
    counter++;
    return plain;
  };

  const consume = (stream: Transform): void => {
    let offset = 0;
    if (header === undefined) {
      if (buffered.length < HEADER_BYTES) return;
      const parsed = parseEncryptedHeader(buffered.subarray(0, HEADER_BYTES));
      if (parsed.keyId !== expectedKeyId) {
        throw new EncryptionError(
          'ENCRYPTION_KEY_MISMATCH',
          `the backup was encrypted with key ${parsed.keyId}, the configured key is ${expectedKeyId}`,
        );
      }
      header = Buffer.from(buffered.subarray(0, HEADER_BYTES));
      chunkBytes = parsed.chunkBytes;
      aesKey = fileKey(master, header.subarray(16, 32));
      offset = HEADER_BYTES;
    }
    const out: Buffer[] = [];
    while (buffered.length - offset >= FRAME_PREFIX_BYTES) {
      if (finished) {
        throw new EncryptionError('ENCRYPTION_FORMAT_INVALID', 'data follows the final encrypted frame');
      }
      const word = buffered.readUInt32BE(offset);
      const final = (word & FINAL_FLAG) !== 0;
      const length = word & ~FINAL_FLAG;
      if (length > chunkBytes || (!final && length !== chunkBytes)) {
        throw new EncryptionError(
          'ENCRYPTION_AUTH_FAILED',
          `the encrypted backup is corrupted: frame ${counter} claims ${length} bytes`,
        );
      }
      const end = offset + FRAME_PREFIX_BYTES + length + TAG_BYTES;
      if (buffered.length < end) break;
      const body = buffered.subarray(offset + FRAME_PREFIX_BYTES, end - TAG_BYTES);
      out.push(open(body, buffered.subarray(end - TAG_BYTES, end), final));
      offset = end;
      if (final) finished = true;
    }
    if (finished && offset < buffered.length) {
      throw new EncryptionError('ENCRYPTION_FORMAT_INVALID', 'data follows the final encrypted frame');
    }
    buffered = offset === buffered.length ? Buffer.alloc(0) : buffered.subarray(offset);
    if (out.length > 0) stream.push(out.length === 1 ? out[0] : Buffer.concat(out));
  };

  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      try {
        consume(this);
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    flush(callback: TransformCallback) {
      master.fill(0);
      aesKey?.fill(0);
      if (header === undefined) {
        callback(
          MAGIC.subarray(0, buffered.length).equals(buffered.subarray(0, MAGIC.length))
            ? new EncryptionError(
                'ENCRYPTION_TRUNCATED',
                'the encrypted backup is truncated (incomplete header)',
              )
            : new EncryptionError('ENCRYPTION_FORMAT_INVALID', 'not a Warden encrypted backup (bad header)'),
        );
        return;
      }
      if (!finished) {
        callback(
          new EncryptionError(
            'ENCRYPTION_TRUNCATED',
            `the encrypted backup is truncated after ${counter} complete frames`,
          ),
        );
        return;
      }
      callback();
    },
  });
}
