import { scrubSecrets } from '@warden/errors';
import { databaseNameOfUrl } from '@warden/names';
/**
 * One parse of a target's connection URL, used for both `pg` and libpq's environment so that the
 * password only ever travels through an object field or `PGPASSWORD`, never argv or a log line.
 */
export interface ConnectionParams {
  host: string;
  port: number;
  user?: string;
  password?: string;
  database: string;
  sslmode?: string;
  /** Other libpq parameters from the query string that have a matching environment variable. */
  extraEnv: Record<string, string>;
}

/** Query-string parameters libpq also reads from the environment (all but `sslmode`). */
const QUERY_ENV: Record<string, string> = {
  sslrootcert: 'PGSSLROOTCERT',
  sslcert: 'PGSSLCERT',
  sslkey: 'PGSSLKEY',
  sslcrl: 'PGSSLCRL',
  connect_timeout: 'PGCONNECT_TIMEOUT',
  target_session_attrs: 'PGTARGETSESSIONATTRS',
  options: 'PGOPTIONS',
  gssencmode: 'PGGSSENCMODE',
};

export function parseDatabaseUrl(url: string): ConnectionParams {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    // The URL holds the password: the parse error (which quotes its input) must not be the message.
    throw new Error('the database URL is not a valid URL', { cause: scrubbedCause(error, url) });
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new Error(`the database URL must start with postgres:// or postgresql://`);
  }
  const query = parsed.searchParams;
  const host = query.get('host') ?? decodeURIComponent(parsed.hostname).replace(/^\[(.*)\]$/, '$1');
  const portText = query.get('port') ?? parsed.port;
  const database = databaseNameOfUrl(url);
  const params: ConnectionParams = {
    host: host || 'localhost',
    port: portText ? Number(portText) : 5432,
    database,
    extraEnv: {},
  };
  const user = parsed.username ? decodeURIComponent(parsed.username) : query.get('user');
  if (user) params.user = user;
  const password = parsed.password ? decodeURIComponent(parsed.password) : query.get('password');
  if (password) params.password = password;
  const sslmode = query.get('sslmode');
  if (sslmode) params.sslmode = sslmode;
  for (const [name, envName] of Object.entries(QUERY_ENV)) {
    const value = query.get(name);
    if (value !== null) params.extraEnv[envName] = value;
  }
  return params;
}

/** libpq environment for pg_dump/psql. `PGPASSWORD` is the only place the password goes. */
export function libpqEnv(
  params: ConnectionParams,
  applicationName = 'warden-backup',
): Record<string, string> {
  const env: Record<string, string> = {
    ...params.extraEnv,
    PGHOST: params.host,
    PGPORT: String(params.port),
    PGDATABASE: params.database,
    PGAPPNAME: applicationName,
  };
  if (params.user !== undefined) env.PGUSER = params.user;
  if (params.password !== undefined) env.PGPASSWORD = params.password;
  if (params.sslmode !== undefined) env.PGSSLMODE = params.sslmode;
  return env;
}

/** `host:port/database`, safe for messages. */
export function describeConnection(params: ConnectionParams): string {
  return `${params.host}:${params.port}/${params.database}`;
}

/** Secret strings that must never appear in a message derived from this connection. */
export function connectionSecrets(url: string): string[] {
  const secrets = [url];
  try {
    const parsed = new URL(url);
    if (parsed.password) {
      secrets.push(parsed.password, decodeURIComponent(parsed.password));
    }
    const queryPassword = parsed.searchParams.get('password');
    if (queryPassword) secrets.push(queryPassword, encodeURIComponent(queryPassword));
  } catch {
    // An unparseable URL is scrubbed as a whole (above) and by the generic patterns below.
  }
  return [...new Set(secrets.filter((secret) => secret.length > 0))].sort((a, b) => b.length - a.length);
}

function scrubbedCause(error: unknown, url: string): Error {
  const message = error instanceof Error ? error.message : String(error);
  return new Error(scrubSecrets(message, connectionSecrets(url)));
}

/** A PostgreSQL identifier (database, schema, table) quoted for SQL text where no parameter fits. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
