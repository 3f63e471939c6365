import type { DatabaseLocale } from '@warden/catalog';
import type pg from 'pg';
import { quoteIdent } from './connection.js';

/**
 * A database's encoding and locale (docs/restore-proof.md). A plain dump leaves them
 * out: `CREATE DATABASE` fixes them, and psql replays the dump into a database that already exists.
 * The backup records them; a restore creates its database with them and reads them back.
 */

const PROVIDERS: Record<string, DatabaseLocale['provider']> = { c: 'libc', i: 'icu', b: 'builtin' };

/**
 * Reads the locale of database `name` (default: the connected one); `serverVersionNum` picks the
 * catalog columns the server has.
 */
export async function readDatabaseLocale(
  client: pg.Client,
  serverVersionNum: number,
  name?: string,
): Promise<DatabaseLocale> {
  // 17 renamed daticulocale to datlocale (also the builtin provider's); 16 added ICU rules.
  const locale =
    serverVersionNum >= 170_000 ? 'datlocale' : serverVersionNum >= 150_000 ? 'daticulocale' : 'NULL::text';
  const provider = serverVersionNum >= 150_000 ? 'datlocprovider::text' : "'c'";
  const rules = serverVersionNum >= 160_000 ? 'daticurules' : 'NULL::text';
  const { rows } = await client.query<{
    encoding: string;
    collate: string;
    ctype: string;
    provider: string;
    locale: string | null;
    rules: string | null;
  }>(
    `SELECT pg_encoding_to_char(encoding) AS encoding, datcollate AS collate, datctype AS ctype,
            ${provider} AS provider, ${locale} AS locale, ${rules} AS rules
       FROM pg_database WHERE datname = coalesce($1, current_database())`,
    [name ?? null],
  );
  const row = rows[0];
  if (!row) throw new Error('the database is not in pg_database');
  return {
    encoding: row.encoding,
    collate: row.collate,
    ctype: row.ctype,
    provider: PROVIDERS[row.provider] ?? 'libc',
    locale: row.locale,
    icu_rules: row.rules,
  };
}

/** An escape string literal: it reads the same whatever `standard_conforming_strings` says. */
function quoteLiteral(text: string): string {
  return `E'${text.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
}

/**
 * The `CREATE DATABASE` options that give a new database `locale`, as far as a server of
 * `serverVersionNum` has them; `undefined` when it cannot (a provider it does not know).
 */
export function createDatabaseLocaleOptions(
  locale: DatabaseLocale,
  serverVersionNum: number,
): string | undefined {
  const options = [
    `ENCODING ${quoteLiteral(locale.encoding)}`,
    `LC_COLLATE ${quoteLiteral(locale.collate)}`,
    `LC_CTYPE ${quoteLiteral(locale.ctype)}`,
  ];
  if (locale.provider === 'libc') {
    if (serverVersionNum >= 150_000) options.push('LOCALE_PROVIDER libc');
  } else if (locale.provider === 'icu') {
    if (serverVersionNum < 150_000 || locale.locale === null) return undefined;
    options.push('LOCALE_PROVIDER icu', `ICU_LOCALE ${quoteLiteral(locale.locale)}`);
    if (locale.icu_rules !== null) {
      if (serverVersionNum < 160_000) return undefined;
      options.push(`ICU_RULES ${quoteLiteral(locale.icu_rules)}`);
    }
  } else {
    if (serverVersionNum < 170_000 || locale.locale === null) return undefined;
    options.push('LOCALE_PROVIDER builtin', `BUILTIN_LOCALE ${quoteLiteral(locale.locale)}`);
  }
  return options.join(' ');
}

/** `encoding UTF8, LC_COLLATE en_US.UTF-8, LC_CTYPE en_US.UTF-8`: a locale as messages name it. */
export function describeDatabaseLocale(locale: DatabaseLocale): string {
  const parts = [`encoding ${locale.encoding}`, `LC_COLLATE ${locale.collate}`, `LC_CTYPE ${locale.ctype}`];
  if (locale.provider !== 'libc') parts.push(`${locale.provider} locale ${locale.locale ?? '(none)'}`);
  if (locale.icu_rules !== null) parts.push(`ICU rules ${JSON.stringify(locale.icu_rules)}`);
  return parts.join(', ');
}

/** Where the restored database's locale differs from the backup's, each difference in words. */
export function compareDatabaseLocale(expected: DatabaseLocale, restored: DatabaseLocale): string[] {
  const differences: string[] = [];
  const fields = ['encoding', 'collate', 'ctype', 'provider', 'locale', 'icu_rules'] as const;
  for (const field of fields) {
    if (expected[field] !== restored[field]) {
      differences.push(
        `database ${field === 'collate' || field === 'ctype' ? `LC_${field.toUpperCase()}` : field.replace('_', ' ')} is ${JSON.stringify(restored[field])} after restore, ${JSON.stringify(expected[field])} in the backup`,
      );
    }
  }
  return differences;
}

/** `CREATE DATABASE "name" TEMPLATE template0 …`: the statement a restore creates its database with. */
export function createDatabaseStatement(
  name: string,
  owner: string | undefined,
  localeOptions: string | undefined,
): string {
  return `CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0${owner ? ` OWNER ${quoteIdent(owner)}` : ''}${localeOptions ? ` ${localeOptions}` : ''}`;
}
