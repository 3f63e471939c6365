import { describe, expect, it } from 'vitest';
import { backupJobSchema, restoreJobSchema, restoreVerifyJobSchema } from './definitions.js';

describe('job payloads', () => {
  it('accept every database name PostgreSQL accepts as a restore target database', () => {
    for (const database of ['My Shop DB', 'pay$roll', 'données', 'a"b', 'with-hyphen']) {
      expect(restoreJobSchema.parse({ target: 'shop', file: 'latest', database }).database).toBe(database);
    }
    expect(() =>
      restoreJobSchema.parse({ target: 'shop', file: 'latest', database: 'é'.repeat(32) }),
    ).toThrow(/63 bytes/);
  });

  it('refuse target names the configuration refuses', () => {
    for (const target of ['pay$roll', 'My Shop', '']) {
      expect(backupJobSchema.safeParse({ target }).success).toBe(false);
      expect(restoreVerifyJobSchema.safeParse({ target }).success).toBe(false);
    }
  });
});
