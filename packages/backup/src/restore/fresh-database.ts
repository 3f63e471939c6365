import type { DatabaseLocale } from '@warden/catalog';
import { errorMessage, RestoreError, scrubError, scrubSecrets } from '@warden/errors';
import type { Logger } from '@warden/logging';
import {
  createDatabaseLocaleOptions,
  createDatabaseStatement,
  describeDatabaseLocale,
  readDatabaseLocale,
} from '../postgres/database-locale.js';
import { dropDatabase, freeDatabaseName, withMaintenanceClient } from './maintenance-connection.js';
import type { MaintenanceAccess, RestorePlan } from './restore-plan.js';

/** The new, empty database a restore writes into; an existing one is only swapped out at the end. */
export interface FreshDatabase {
  name: string;
  /** The replaced database's owner, kept for its successor; a new database has the restoring role's. */
  owner: string | undefined;
  /**
   * Why the database could not be given the backup's encoding and locale (the server lacks the
   * locale, or its version the provider) and has the server's default instead; absent: it has them.
   */
  localeNote?: string;
}

/**
 * SQLSTATEs of a locale the server refuses: wrong_object_type (a locale name it does not have),
 * invalid_parameter_value (a locale not matching the encoding, an unknown ICU locale),
 * undefined_object (an unknown encoding), feature_not_supported (ICU not built in), syntax_error
 * (an older server without the option).
 */
const LOCALE_REFUSED = new Set(['42809', '22023', '42704', '0A000', '42601']);

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
  options: { discard?: boolean | undefined; locale?: DatabaseLocale | undefined } = {},
): Promise<FreshDatabase> {
  const name = options.discard
    ? plan.database
    : await withMaintenanceClient(maintenance.url, maintenance.where, (client) =>
        freeDatabaseName(client, plan.database, at, 'incoming'),
      );
  const created = await withMaintenanceClient(maintenance.url, maintenance.where, async (client) => {
    let ownerName: string | undefined;
    if (plan.action === 'replace') {
      const { rows } = await client.query<{ owner: string }>(
        'SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1',
        [plan.database],
      );
      ownerName = rows[0]?.owner;
    }
    const create = async (localeOptions: string | undefined) => {
      await client.query(createDatabaseStatement(name, ownerName, localeOptions));
      onCreated(name);
    };
    const locale = options.locale;
    if (locale === undefined) {
      await create(undefined);
      return { owner: ownerName };
    }
    const { rows } = await client.query<{ num: string }>(
      "SELECT current_setting('server_version_num') AS num",
    );
    const versionNum = Number(rows[0]?.num ?? 0);
    const localeOptions = createDatabaseLocaleOptions(locale, versionNum);
    let refusal = 'this server version cannot create it';
    if (localeOptions !== undefined) {
      try {
        await create(localeOptions);
        return { owner: ownerName };
      } catch (error) {
        const sqlstate = (error as { code?: string }).code;
        if (sqlstate === undefined || !LOCALE_REFUSED.has(sqlstate)) throw error;
        refusal = `the server refused it: ${scrubSecrets(errorMessage(error), secrets)}`;
      }
    }
    await create(undefined);
    const given = await readDatabaseLocale(client, versionNum, name);
    return {
      owner: ownerName,
      localeNote: `the backup's database had ${describeDatabaseLocale(locale)}, but ${refusal}; the restored database has the server's default, ${describeDatabaseLocale(given)}`,
    };
  }).catch((error: unknown) => {
    if (error instanceof RestoreError) throw error;
    throw new RestoreError(
      'RESTORE_CONNECT_FAILED',
      `creating database "${name}" failed: ${scrubSecrets(errorMessage(error), secrets)}`,
      { cause: scrubError(error, secrets) },
    );
  });
  return { name, ...created };
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
