import { StorageError } from '@warden/errors';
import { describe, expect, it } from 'vitest';
import { choosePartSize, createS3Storage } from './s3-storage.js';

const MIB = 1024 * 1024;

describe('choosePartSize', () => {
  it("uses S3's minimum 5 MiB parts when the size is unknown or small", () => {
    expect(choosePartSize(undefined)).toBe(5 * MIB);
    expect(choosePartSize(0)).toBe(5 * MIB);
    expect(choosePartSize(40 * MIB)).toBe(5 * MIB);
  });

  it('grows parts in whole MiB so a large object stays under 10,000 parts', () => {
    for (const size of [80 * 1024 * MIB, 200 * 1024 * MIB, 5 * 1024 * 1024 * MIB]) {
      const part = choosePartSize(size);
      expect(part % MIB).toBe(0);
      expect(part).toBeGreaterThan(5 * MIB);
      // Room to spare for an expected size that was an underestimate.
      expect(Math.ceil(size / part)).toBeLessThanOrEqual(9_000);
    }
  });
});

describe('createS3Storage options', () => {
  const base = {
    bucket: 'backups',
    region: 'eu-west-1',
    accessKeyId: 'AKIAEXAMPLE',
    secretAccessKey: 'secret/EXAMPLE',
    forcePathStyle: false,
    checksumWhenRequired: false,
  };

  it('names its location after bucket and prefix, adding the trailing slash', async () => {
    const plain = createS3Storage({ ...base, prefix: '' });
    const nested = createS3Storage({ ...base, prefix: 'prod/db' });
    try {
      expect(plain.location).toBe('s3://backups/');
      expect(nested.location).toBe('s3://backups/prod/db/');
      expect(nested.describe('app/x.sql.gz')).toBe('s3://backups/prod/db/app/x.sql.gz');
      expect(nested.location).not.toContain(base.secretAccessKey);
    } finally {
      await plain.close();
      await nested.close();
    }
  });

  it('refuses a prefix that climbs or starts at the root', () => {
    for (const prefix of ['../up', '/abs', 'a//b']) {
      expect(() => createS3Storage({ ...base, prefix })).toThrow(StorageError);
    }
  });
});
