import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { EncryptionError } from '@warden/errors';
import { describe, expect, it } from 'vitest';
import { createDecryptStream, createEncryptStream, keyIdOf, parseEncryptedHeader } from './encryption.js';

const KEY = 'a1'.repeat(32);
const OTHER_KEY = 'b2'.repeat(32);

function pieces(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += size) out.push(data.subarray(at, at + size));
  return out;
}

async function run(transform: NodeJS.ReadWriteStream, input: Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(input),
    transform,
    new Writable({
      write(chunk: Buffer, _e, cb) {
        out.push(chunk);
        cb();
      },
    }),
  );
  return Buffer.concat(out);
}

/** Collects what the decryptor released before failing, and the failure. */
async function decryptOutcome(key: string, encrypted: Buffer): Promise<{ output: Buffer; error: unknown }> {
  const out: Buffer[] = [];
  try {
    await pipeline(
      Readable.from(pieces(encrypted, 7000)),
      createDecryptStream(key),
      new Writable({
        write(chunk: Buffer, _e, cb) {
          out.push(chunk);
          cb();
        },
      }),
    );
    return { output: Buffer.concat(out), error: undefined };
  } catch (error) {
    return { output: Buffer.concat(out), error };
  }
}

describe('encryption framing', () => {
  it('round-trips data of many sizes, whatever the write boundaries', async () => {
    for (const size of [0, 1, 1023, 1024, 1025, 4096 * 3, 200_000]) {
      const plain = randomBytes(size);
      for (const writeSize of [1, 333, 5000]) {
        if (size > 20_000 && writeSize === 1) continue;
        const encrypted = await run(createEncryptStream(KEY, { chunkBytes: 1024 }), pieces(plain, writeSize));
        expect(encrypted.length).toBe(
          32 + (Math.floor(size / 1024) + (size % 1024 === 0 && size > 0 ? 0 : 1)) * 20 + size,
        );
        const decrypted = await run(createDecryptStream(KEY), pieces(encrypted, writeSize + 17));
        expect(decrypted.equals(plain)).toBe(true);
      }
    }
  });

  it('never encrypts the same data the same way twice', async () => {
    const plain = Buffer.from('same plaintext');
    const a = await run(createEncryptStream(KEY), [plain]);
    const b = await run(createEncryptStream(KEY), [plain]);
    expect(a.equals(b)).toBe(false);
    expect(a.includes(plain)).toBe(false);
  });

  it('records the key id in the header; keyIdOf is 8 hex chars and differs per key', async () => {
    const encrypted = await run(createEncryptStream(KEY), [Buffer.from('x')]);
    expect(parseEncryptedHeader(encrypted).keyId).toBe(keyIdOf(KEY));
    expect(keyIdOf(KEY)).toMatch(/^[0-9a-f]{8}$/);
    expect(keyIdOf(OTHER_KEY)).not.toBe(keyIdOf(KEY));
    expect(keyIdOf(Buffer.from(KEY, 'hex'))).toBe(keyIdOf(KEY));
  });

  it('rejects a wrong key with ENCRYPTION_KEY_MISMATCH before releasing any byte', async () => {
    const encrypted = await run(createEncryptStream(KEY), [randomBytes(300_000)]);
    const { output, error } = await decryptOutcome(OTHER_KEY, encrypted);
    expect(error).toBeInstanceOf(EncryptionError);
    expect((error as EncryptionError).code).toBe('ENCRYPTION_KEY_MISMATCH');
    expect((error as Error).message).not.toContain(OTHER_KEY);
    expect(output.length).toBe(0);
  });

  it('detects a flipped bit anywhere (header, length, ciphertext, tag)', async () => {
    const plain = randomBytes(5000);
    const encrypted = await run(createEncryptStream(KEY, { chunkBytes: 1024 }), [plain]);
    // salt byte, chunk size, frame length, ciphertext, tag of the first frame, last byte (final tag)
    for (const at of [20, 15, 33, 100, 32 + 4 + 1024 + 3, encrypted.length - 1]) {
      const tampered = Buffer.from(encrypted);
      tampered[at] = (tampered[at] as number) ^ 0x01;
      const { error } = await decryptOutcome(KEY, tampered);
      expect(error, `byte ${at}`).toBeInstanceOf(EncryptionError);
      expect(['ENCRYPTION_AUTH_FAILED', 'ENCRYPTION_FORMAT_INVALID', 'ENCRYPTION_TRUNCATED']).toContain(
        (error as EncryptionError).code,
      );
    }
  });

  it('detects swapped frames', async () => {
    const encrypted = await run(createEncryptStream(KEY, { chunkBytes: 1024 }), [randomBytes(4096)]);
    const frame = 4 + 1024 + 16;
    const swapped = Buffer.concat([
      encrypted.subarray(0, 32),
      encrypted.subarray(32 + frame, 32 + 2 * frame),
      encrypted.subarray(32, 32 + frame),
      encrypted.subarray(32 + 2 * frame),
    ]);
    const { error } = await decryptOutcome(KEY, swapped);
    expect((error as EncryptionError).code).toBe('ENCRYPTION_AUTH_FAILED');
  });

  it('detects truncation at a frame boundary, mid-frame and inside the header', async () => {
    const encrypted = await run(createEncryptStream(KEY, { chunkBytes: 1024 }), [randomBytes(4096)]);
    const frame = 4 + 1024 + 16;
    for (const length of [32 + 2 * frame, 32 + frame + 10, 32, 10]) {
      const { error } = await decryptOutcome(KEY, encrypted.subarray(0, length));
      expect((error as EncryptionError).code, `length ${length}`).toBe('ENCRYPTION_TRUNCATED');
    }
  });

  it('rejects data appended after the final frame and input that is not encrypted', async () => {
    const encrypted = await run(createEncryptStream(KEY), [Buffer.from('payload')]);
    const appended = await decryptOutcome(KEY, Buffer.concat([encrypted, Buffer.from('more')]));
    expect((appended.error as EncryptionError).code).toBe('ENCRYPTION_FORMAT_INVALID');
    const plain = await decryptOutcome(KEY, Buffer.from('-- PostgreSQL database dump\n'.repeat(10)));
    expect((plain.error as EncryptionError).code).toBe('ENCRYPTION_FORMAT_INVALID');
  });

  it('refuses a malformed key', () => {
    expect(() => createEncryptStream('abc')).toThrow(EncryptionError);
    expect(() => createDecryptStream(Buffer.alloc(16))).toThrow(/32 bytes/);
  });
});
