import type { DatabaseLocale } from '@warden/catalog';
import { describe, expect, it } from 'vitest';
import {
  compareDatabaseLocale,
  createDatabaseLocaleOptions,
  describeDatabaseLocale,
} from './database-locale.js';

const libc: DatabaseLocale = {
  encoding: 'LATIN1',
  collate: 'de_DE',
  ctype: 'de_DE',
  provider: 'libc',
  locale: null,
  icu_rules: null,
};
const icu: DatabaseLocale = { ...libc, encoding: 'UTF8', provider: 'icu', locale: 'sv-SE' };

describe('CREATE DATABASE options for a locale', () => {
  it('names the provider from 15 on, and only there', () => {
    expect(createDatabaseLocaleOptions(libc, 140_010)).toBe(
      "ENCODING E'LATIN1' LC_COLLATE E'de_DE' LC_CTYPE E'de_DE'",
    );
    expect(createDatabaseLocaleOptions(libc, 150_020)).toBe(
      "ENCODING E'LATIN1' LC_COLLATE E'de_DE' LC_CTYPE E'de_DE' LOCALE_PROVIDER libc",
    );
    expect(createDatabaseLocaleOptions(icu, 150_020)).toMatch(/LOCALE_PROVIDER icu ICU_LOCALE E'sv-SE'$/);
  });

  it('has none where the server version lacks the provider or the rules', () => {
    expect(createDatabaseLocaleOptions(icu, 140_010)).toBeUndefined();
    const rules = { ...icu, icu_rules: '&a < b' };
    expect(createDatabaseLocaleOptions(rules, 150_020)).toBeUndefined();
    expect(createDatabaseLocaleOptions(rules, 160_004)).toMatch(/ICU_RULES E'&a < b'$/);
    const builtin: DatabaseLocale = { ...libc, encoding: 'UTF8', provider: 'builtin', locale: 'C.UTF-8' };
    expect(createDatabaseLocaleOptions(builtin, 160_004)).toBeUndefined();
    expect(createDatabaseLocaleOptions(builtin, 170_000)).toMatch(
      /LOCALE_PROVIDER builtin BUILTIN_LOCALE E'C.UTF-8'$/,
    );
  });

  it('quotes text so no value ends its literal, whatever standard_conforming_strings says', () => {
    const hostile = { ...libc, collate: "x' OWNER postgres --", ctype: 'a\\' };
    expect(createDatabaseLocaleOptions(hostile, 150_020)).toBe(
      "ENCODING E'LATIN1' LC_COLLATE E'x'' OWNER postgres --' LC_CTYPE E'a\\\\' LOCALE_PROVIDER libc",
    );
  });
});

describe('comparing a restored locale', () => {
  it('names each difference, in words', () => {
    expect(compareDatabaseLocale(icu, icu)).toEqual([]);
    expect(compareDatabaseLocale(icu, { ...icu, collate: 'C', locale: 'en-US' })).toEqual([
      'database LC_COLLATE is "C" after restore, "de_DE" in the backup',
      'database locale is "en-US" after restore, "sv-SE" in the backup',
    ]);
    expect(describeDatabaseLocale(icu)).toBe(
      'encoding UTF8, LC_COLLATE de_DE, LC_CTYPE de_DE, icu locale sv-SE',
    );
  });
});
