import { createHash } from 'node:crypto';

/**
 * Names of targets and databases, checked the same way wherever they enter Warden: the
 * configuration, job payloads and the HTTP API. A configuration that loads is therefore one whose
 * jobs are accepted.
 */

/** PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes. */
export const MAX_IDENTIFIER_BYTES = 63;

/**
 * Target names end up in storage keys, file names, scheduler and job ids, so they stay plain. A
 * database name may be anything PostgreSQL accepts; its target is named after it by
 * {@link databaseNameSlug}.
 */
export const TARGET_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
export const TARGET_NAME_RULE =
  'must be a target name: 1-63 letters, digits, "_" or "-", starting with a letter or digit';

export function isTargetName(name: string): boolean {
  return TARGET_NAME_PATTERN.test(name);
}

export const DATABASE_NAME_RULE = `must be a database name: 1-${MAX_IDENTIFIER_BYTES} bytes (UTF-8), no control characters`;

/** What is wrong with `name` as a PostgreSQL database name, or `undefined` when nothing is. */
export function databaseNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'the database name is empty';
  // PostgreSQL accepts all but NUL; control characters are refused too, because names reach log
  // lines, Slack messages and operators' terminals.
  if (/\p{Cc}/u.test(name)) return 'the database name contains a control character';
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_IDENTIFIER_BYTES) {
    return `the database name is ${bytes} bytes long; PostgreSQL allows at most ${MAX_IDENTIFIER_BYTES}`;
  }
  return undefined;
}

export function isDatabaseName(name: string): boolean {
  return databaseNameProblem(name) === undefined;
}

/** `name` cut to at most `maxBytes` of UTF-8 without splitting a character. */
export function truncateUtf8(name: string, maxBytes: number): string {
  if (Buffer.byteLength(name, 'utf8') <= maxBytes) return name;
  let out = '';
  let bytes = 0;
  for (const char of name) {
    const size = Buffer.byteLength(char, 'utf8');
    if (bytes + size > maxBytes) break;
    out += char;
    bytes += size;
  }
  return out;
}

const SLUG_MAX = 40;

/**
 * A file- and key-safe stand-in for a database name: the name itself when it already is a valid
 * target name, otherwise its letters and digits (accents dropped, everything else `_`) plus a short
 * hash of the real name, so "My DB" and "My_DB" never share a slug. The real name stays in the
 * manifest.
 */
export function databaseNameSlug(name: string): string {
  if (isTargetName(name) && name.length <= SLUG_MAX) return name;
  const plain = name
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .replace(/[^A-Za-z0-9_-]+/g, '_')
    .replace(/^[_-]+/, '')
    .slice(0, SLUG_MAX)
    .replace(/[_-]+$/, '');
  const hash = createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 8);
  return plain === '' ? `db-${hash}` : `${plain}-${hash}`;
}

/**
 * The database a `postgres://` URL names, decoded once with `decodeURIComponent` (so `%24` is `$`
 * and `%20` a space) — the same reading for the configuration, libpq's environment and the pg
 * client. `dbname` in the query string counts when the path is empty. `''` when there is none or
 * the URL does not parse.
 */
export function databaseNameOfUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '';
  }
  try {
    return decodeURIComponent(parsed.pathname.replace(/^\//, '')) || parsed.searchParams.get('dbname') || '';
  } catch {
    // A malformed escape such as "%zz": not a name anyone meant.
    return '';
  }
}
