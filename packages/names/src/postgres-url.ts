import type { ClientConfig } from 'pg';
import { parseIntoClientConfig } from 'pg-connection-string';
import { databaseNameOfUrl } from './database-name.js';

/**
 * node-postgres options for a `postgres://` URL. node-postgres decodes the URL's path with
 * `decodeURI`, which leaves `%24`, `%23`, `%2F`, … encoded, so its database would differ from the
 * one libpq (pg_dump, psql) and the configuration see; the database here is the one
 * {@link databaseNameOfUrl} reads. Passing options instead of `connectionString` also keeps the
 * URL, password included, out of the client object.
 */
export function pgClientConfig(url: string): ClientConfig {
  const config = parseIntoClientConfig(url);
  return { ...config, database: databaseNameOfUrl(url) };
}
