import { describe, expect, it } from 'vitest';
import { databaseNameProblem, databaseNameSlug, isTargetName, truncateUtf8 } from './database-name.js';

describe('database names', () => {
  it('accepts what PostgreSQL accepts', () => {
    for (const name of ['My Shop DB', 'pay$roll', 'données', 'with-hyphen', '_x', 'a"b', 'Ünïcödé 名前']) {
      expect(databaseNameProblem(name)).toBeUndefined();
    }
  });

  it('refuses empty names, control characters and names over 63 bytes', () => {
    expect(databaseNameProblem('')).toMatch(/empty/);
    expect(databaseNameProblem('a\0b')).toMatch(/control character/);
    expect(databaseNameProblem('a\nb')).toMatch(/control character/);
    expect(databaseNameProblem('é'.repeat(32))).toMatch(/64 bytes/);
    expect(databaseNameProblem('é'.repeat(31))).toBeUndefined();
  });

  it('slugs into valid, distinct target names and keeps plain names as they are', () => {
    expect(databaseNameSlug('shop_dev')).toBe('shop_dev');
    const names = ['My Shop DB', 'My_Shop_DB', 'pay$roll', 'données', '名前', '_x', 'x'.repeat(63)];
    const slugs = names.map(databaseNameSlug);
    for (const slug of slugs) expect(isTargetName(slug)).toBe(true);
    expect(new Set(slugs).size).toBe(names.length);
    expect(databaseNameSlug('données')).toMatch(/^donnees-[0-9a-f]{8}$/);
    expect(databaseNameSlug('名前')).toMatch(/^db-[0-9a-f]{8}$/);
  });

  it('truncates without splitting characters', () => {
    expect(truncateUtf8('ééé', 5)).toBe('éé');
    expect(truncateUtf8('abc', 5)).toBe('abc');
  });
});
