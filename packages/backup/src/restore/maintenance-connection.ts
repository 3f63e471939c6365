import { errorMessage, RestoreError, scrubError, scrubSecrets } from '@warden/errors';
import type { Logger } from '@warden/logging';
import { MAX_IDENTIFIER_BYTES, pgClientConfig, truncateUtf8 } from '@warden/names';
import pg from 'pg';
import { connectionSecrets, quoteIdent } from '../postgres/connection.js';
import { restoreDatabaseName } from './naming.js';

/** A pg client on the maintenance database; SQL errors come back scrubbed of the connection's secrets. */
export async function withMaintenanceClient<T>(
  url: string,
  where: string,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const secrets = connectionSecrets(url);
  const client = new pg.Client({
    ...pgClientConfig(url),
    connectionTimeoutMillis: 10_000,
    application_name: 'warden-restore',
  });
  // A dropped idle connection surfaces through the next query; unhandled it would kill the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    const sqlstate = (error as { code?: string }).code;
    throw new RestoreError(
      'RESTORE_CONNECT_FAILED',
      `cannot connect to ${where}: ${scrubSecrets(errorMessage(error), secrets)}`,
      {
        cause: scrubError(error, secrets),
        permanent: sqlstate === '28000' || sqlstate === '28P01' || sqlstate === '3D000',
      },
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function databaseExists(client: pg.Client, name: string): Promise<boolean> {
  const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  return (rowCount ?? 0) > 0;
}

export async function dropDatabase(client: pg.Client, name: string): Promise<void> {
  await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
}

/** The default name, or with `_2` … `_99` appended when a restore of the same second already took it. */
export async function freeDatabaseName(
  client: pg.Client,
  database: string,
  at: Date,
  label = 'restore',
): Promise<string> {
  const base = restoreDatabaseName(database, at, label);
  for (let attempt = 1; attempt < 100; attempt++) {
    const suffix = attempt === 1 ? '' : `_${attempt}`;
    const candidate = `${truncateUtf8(base, MAX_IDENTIFIER_BYTES - suffix.length)}${suffix}`;
    if (!(await databaseExists(client, candidate))) return candidate;
  }
  throw new RestoreError('RESTORE_INVALID_DATABASE', `no free database name like "${base}"`);
}

/** Gives a restored database the name asked for (`RESTORE_SWAP_FAILED` when that name was taken meanwhile). */
export async function renameDatabase(
  maintenanceUrl: string,
  where: string,
  incoming: string,
  name: string,
  secrets: readonly string[],
): Promise<void> {
  await withMaintenanceClient(maintenanceUrl, where, async (client) => {
    try {
      await client.query(`ALTER DATABASE ${quoteIdent(incoming)} RENAME TO ${quoteIdent(name)}`);
    } catch (error) {
      throw new RestoreError(
        'RESTORE_SWAP_FAILED',
        `naming the restored database "${name}" failed: ${scrubSecrets(errorMessage(error), secrets)}`,
        { cause: scrubError(error, secrets) },
      );
    }
  });
}

/**
 * Puts `incoming` in place of `existing`: no new connections to the old one, its sessions ended,
 * both renames in one transaction (so the name is never missing), then the old database dropped.
 */
export async function swapDatabases(
  maintenanceUrl: string,
  where: string,
  existing: string,
  incoming: string,
  at: Date,
  log: Logger,
  secrets: readonly string[],
): Promise<void> {
  await withMaintenanceClient(maintenanceUrl, where, async (client) => {
    const replaced = await freeDatabaseName(client, existing, at, 'replaced');
    try {
      await client.query(`ALTER DATABASE ${quoteIdent(existing)} ALLOW_CONNECTIONS false`);
      for (let attempt = 0; ; attempt++) {
        const { rows } = await client.query<{ sessions: string }>(
          `SELECT count(pg_terminate_backend(pid))::text AS sessions
             FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
          [existing],
        );
        if (Number(rows[0]?.sessions ?? 0) === 0) break;
        if (attempt >= 50) throw new Error(`sessions on "${existing}" did not end`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      await client.query('BEGIN');
      await client.query(`ALTER DATABASE ${quoteIdent(existing)} RENAME TO ${quoteIdent(replaced)}`);
      await client.query(`ALTER DATABASE ${quoteIdent(incoming)} RENAME TO ${quoteIdent(existing)}`);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      await client
        .query(`ALTER DATABASE ${quoteIdent(existing)} ALLOW_CONNECTIONS true`)
        .catch(() => undefined);
      throw new RestoreError(
        'RESTORE_SWAP_FAILED',
        `replacing database "${existing}" failed; it was left as it was: ${scrubSecrets(errorMessage(error), secrets)}`,
        { cause: scrubError(error, secrets) },
      );
    }
    try {
      await dropDatabase(client, replaced);
    } catch (error) {
      // The restore itself succeeded; the old copy only takes space.
      log.warn(
        { err: scrubError(error, secrets), database: replaced },
        'dropping the replaced database failed',
      );
    }
  });
}
