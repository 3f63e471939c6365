import { StorageError } from '@warden/errors';
import { describe, expect, it } from 'vitest';
import { assertSafeKey, assertSafePrefix } from './storage.js';

describe('assertSafePrefix', () => {
  it('accepts the root, folders and name starts', () => {
    for (const prefix of ['', 'app/', 'app', 'app/db_prod_2025', 'a/b/c/']) {
      expect(() => assertSafePrefix(prefix)).not.toThrow();
    }
  });

  it('refuses prefixes that climb, start at the root or have empty segments', () => {
    for (const prefix of ['/', '../', '/app/', 'a//', 'a/../b/', '.', 'a\\b']) {
      expect(() => assertSafePrefix(prefix)).toThrow(StorageError);
    }
  });
});

describe('assertSafeKey', () => {
  it('refuses keys a prefix would accept but an object cannot have', () => {
    expect(() => assertSafeKey('app/')).toThrow(StorageError);
    expect(() => assertSafeKey('app/x.sql.gz')).not.toThrow();
  });
});
