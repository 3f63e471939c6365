import { errorMessage, RestoreError, scrubError, scrubSecrets } from '@warden/errors';
import type { Logger } from '@warden/logging';
import { quoteIdent } from '../postgres/connection.js';
import { dropDatabase, freeDatabaseName, withMaintenanceClient } from './maintenance-connection.js';
import type { MaintenanceAccess, RestorePlan } from './restore-plan.js';

/** The new, empty database a restore writes into; an existing one is only swapped out at the end. */
export interface FreshDatabase {
  name: string;
  /** The replaced database's owner, kept for its successor; a new database has the restoring role's. */
  owner: string | undefined;
}

/**
 * Creates the fresh database from template0 (a dump restores into a pristine database, not one
 * carrying template1's extras) under a free `_incoming_` name beside the planned one: the dump is
 * loaded statement by statement, so a restore killed mid-way must not leave a half-loaded database
 * under the name the operator asked for. Only a discarded (test) restore loads into the planned
 * scratch name itself. `onCreated` hears of it as soon as it exists, so a failure after that point
 * still drops it.
 */
export async function createFreshDatabase(
  maintenance: MaintenanceAccess,
  plan: RestorePlan,
  at: Date,
  secrets: readonly string[],
  onCreated: (name: string) => void,
  options: { discard?: boolean | undefined } = {},
): Promise<FreshDatabase> {
  const name = options.discard
    ? plan.database
    : await withMaintenanceClient(maintenance.url, maintenance.where, (client) =>
        freeDatabaseName(client, plan.database, at, 'incoming'),
      );
  const owner = await withMaintenanceClient(maintenance.url, maintenance.where, async (client) => {
    let ownerName: string | undefined;
    if (plan.action === 'replace') {
      const { rows } = await client.query<{ owner: string }>(
        'SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1',
        [plan.database],
      );
      ownerName = rows[0]?.owner;
    }
    await client.query(
      `CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0${ownerName ? ` OWNER ${quoteIdent(ownerName)}` : ''}`,
    );
    onCreated(name);
    return ownerName;
  }).catch((error: unknown) => {
    if (error instanceof RestoreError) throw error;
    throw new RestoreError(
      'RESTORE_CONNECT_FAILED',
      `creating database "${name}" failed: ${scrubSecrets(errorMessage(error), secrets)}`,
      { cause: scrubError(error, secrets) },
    );
  });
  return { name, owner };
}

/** Drops a fresh database a failed restore left half-written; a failure to do so is logged, not thrown. */
export async function dropHalfRestoredDatabase(
  maintenance: MaintenanceAccess,
  name: string,
  log: Logger,
  secrets: readonly string[],
): Promise<void> {
  await withMaintenanceClient(maintenance.url, maintenance.where, (client) =>
    dropDatabase(client, name),
  ).then(
    () => log.info({ database: name }, 'half-restored database dropped'),
    (dropError: unknown) =>
      log.error(
        { err: scrubError(dropError, secrets), database: name },
        'dropping the half-restored database failed; drop it by hand',
      ),
  );
}
