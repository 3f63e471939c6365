import type { DatabaseProperties, EventTriggerRecord } from '@warden/catalog';
import type pg from 'pg';
import { quoteIdent } from '../postgres/connection.js';

/**
 * What a plain pg_dump leaves out or cannot prove by itself, read from the connected database:
 * its comment and settings (`pg_db_role_setting`), its event triggers, and a digest of its large
 * objects. The backup reads them inside the dump's snapshot; a restore reads them again from the
 * restored database and compares.
 */

export async function readDatabaseProperties(client: pg.Client): Promise<DatabaseProperties> {
  const comment = await client.query<{ comment: string | null }>(
    `SELECT shobj_description(d.oid, 'pg_database') AS comment
       FROM pg_database d WHERE d.datname = current_database()`,
  );
  const settings = await client.query<{ role: string | null; setting: string }>(
    `SELECT r.rolname AS role, unnest(s.setconfig) AS setting
       FROM pg_db_role_setting s LEFT JOIN pg_roles r ON r.oid = s.setrole
      WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
      ORDER BY 1 NULLS FIRST, 2`,
  );
  return {
    comment: comment.rows[0]?.comment ?? null,
    settings: settings.rows.map(({ role, setting }) => {
      const at = setting.indexOf('=');
      return { role, name: setting.slice(0, at), value: setting.slice(at + 1) };
    }),
  };
}

export async function readEventTriggers(client: pg.Client): Promise<EventTriggerRecord[]> {
  const { rows } = await client.query<EventTriggerRecord>(
    'SELECT evtname AS name, evtenabled AS enabled FROM pg_event_trigger ORDER BY 1',
  );
  return rows;
}

/** Count and digest (md5 per object, in OID order; pg_dump keeps OIDs) of the large objects. */
export async function readLargeObjects(client: pg.Client): Promise<{ count: number; digest: string }> {
  const { rows } = await client.query<{ count: string; digest: string }>(
    `SELECT count(*)::text AS count,
            coalesce(md5(string_agg(m.oid::text || ':' || md5(lo_get(m.oid)), ',' ORDER BY m.oid)), '') AS digest
       FROM pg_largeobject_metadata m`,
  );
  return { count: Number(rows[0]?.count ?? 0), digest: rows[0]?.digest ?? '' };
}

/** Settings whose value is a list of quoted items; pg_dumpall re-quotes each item (variable_is_guc_list_quote). */
const LIST_QUOTED_SETTINGS = new Set([
  'local_preload_libraries',
  'search_path',
  'session_preload_libraries',
  'shared_preload_libraries',
  'temp_tablespaces',
  'unix_socket_directories',
]);

/** Splits a list setting like `"$user", public` into its items, as PostgreSQL's SplitGUCList does. */
function splitListSetting(value: string): string[] {
  const items: string[] = [];
  let at = 0;
  while (at < value.length) {
    while (value[at] === ' ') at++;
    let item = '';
    if (value[at] === '"') {
      at++;
      for (; at < value.length; at++) {
        if (value[at] === '"') {
          if (value[at + 1] === '"') {
            item += '"';
            at++;
          } else {
            at++;
            break;
          }
        } else item += value[at];
      }
    } else {
      const comma = value.indexOf(',', at);
      const end = comma === -1 ? value.length : comma;
      item = value.slice(at, end).trim();
      at = end;
    }
    items.push(item);
    while (value[at] === ' ') at++;
    if (value[at] === ',') at++;
  }
  return items;
}

/** The SQL that gives `database` a recorded setting. */
export function settingStatement(
  client: Pick<pg.Client, 'escapeLiteral'>,
  database: string,
  setting: DatabaseProperties['settings'][number],
): string {
  const value = LIST_QUOTED_SETTINGS.has(setting.name.toLowerCase())
    ? splitListSetting(setting.value)
        .map((item) => client.escapeLiteral(item))
        .join(', ')
    : client.escapeLiteral(setting.value);
  const scope =
    setting.role === null
      ? `ALTER DATABASE ${quoteIdent(database)}`
      : `ALTER ROLE ${quoteIdent(setting.role)} IN DATABASE ${quoteIdent(database)}`;
  return `${scope} SET ${quoteIdent(setting.name)} TO ${value}`;
}

/**
 * Gives `database` the recorded comment and settings. A statement that fails (a role missing on
 * this server, a setting only a superuser may make) is reported, not thrown: the comparison that
 * follows then names what is missing.
 */
export async function applyDatabaseProperties(
  client: pg.Client,
  database: string,
  properties: DatabaseProperties,
): Promise<string[]> {
  const failures: string[] = [];
  const run = async (sql: string, what: string) => {
    try {
      await client.query(sql);
    } catch (error) {
      failures.push(`${what}: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  if (properties.comment !== null) {
    await run(
      `COMMENT ON DATABASE ${quoteIdent(database)} IS ${client.escapeLiteral(properties.comment)}`,
      'the database comment',
    );
  }
  for (const setting of properties.settings) {
    await run(settingStatement(client, database, setting), describeSetting(setting));
  }
  return failures;
}

export function describeSetting(setting: DatabaseProperties['settings'][number]): string {
  return setting.role === null
    ? `database setting ${setting.name}`
    : `setting ${setting.name} of role ${quoteIdent(setting.role)} in the database`;
}

/** Differences between recorded and restored properties (none = matched). */
export function compareDatabaseProperties(
  expected: DatabaseProperties,
  actual: DatabaseProperties,
): string[] {
  const problems: string[] = [];
  if ((expected.comment ?? null) !== (actual.comment ?? null)) {
    problems.push(
      expected.comment === null
        ? 'the database has a comment the backup did not have'
        : 'the database comment is missing or differs',
    );
  }
  const key = (setting: DatabaseProperties['settings'][number]) =>
    JSON.stringify([setting.role, setting.name]);
  const restored = new Map(actual.settings.map((setting) => [key(setting), setting.value]));
  for (const setting of expected.settings) {
    const value = restored.get(key(setting));
    if (value === undefined) problems.push(`${describeSetting(setting)} is missing after restore`);
    else if (value !== setting.value) problems.push(`${describeSetting(setting)} differs after restore`);
    restored.delete(key(setting));
  }
  for (const extra of restored.keys()) {
    const [role, name] = JSON.parse(extra) as [string | null, string];
    problems.push(`${describeSetting({ role, name, value: '' })} is not in the backup`);
  }
  return problems;
}
