import type { DatabaseProperties } from '@warden/catalog';
import type pg from 'pg';
import { quoteIdent } from '../postgres/connection.js';

/**
 * The database's comment and its `pg_db_role_setting` rows (`ALTER DATABASE … SET`, `ALTER ROLE …
 * IN DATABASE … SET`): a plain pg_dump writes neither. The backup reads them in the dump's
 * snapshot, records them in the manifest and writes them into the dump file itself, as a section
 * before pg_dump's output ({@link propertiesSection}); a restore reads them back and compares.
 */

type Setting = DatabaseProperties['settings'][number];

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

/** Stands for the database the statement is run in (`current_database()`), whatever its name. */
const THIS_DATABASE = Symbol('this database');

/**
 * One statement that gives a database a recorded property, as a `format()` template (ASCII; `%I`
 * an identifier, `%L` a literal) and its arguments: the one definition both the dump's section and
 * the restore of an older backup run.
 */
interface PropertyStatement {
  /** What it restores, for messages: `database setting app.tenant`. */
  what: string;
  template: string;
  args: (string | typeof THIS_DATABASE)[];
}

export function describeSetting(setting: Setting): string {
  return setting.role === null
    ? `database setting ${setting.name}`
    : `setting ${setting.name} of role ${quoteIdent(setting.role)} in the database`;
}

function propertyStatements(properties: DatabaseProperties): PropertyStatement[] {
  const statements: PropertyStatement[] = [];
  if (properties.comment !== null) {
    statements.push({
      what: 'the database comment',
      template: 'COMMENT ON DATABASE %I IS %L',
      args: [THIS_DATABASE, properties.comment],
    });
  }
  for (const setting of properties.settings) {
    const listed = LIST_QUOTED_SETTINGS.has(setting.name.toLowerCase())
      ? splitListSetting(setting.value)
      : [];
    // A list setting's items each as a literal (`'$user', 'public'`), like pg_dumpall writes it.
    const values = listed.length > 0 ? listed : [setting.value];
    const value = values.map(() => '%L').join(', ');
    statements.push(
      setting.role === null
        ? {
            what: describeSetting(setting),
            template: `ALTER DATABASE %I SET %I TO ${value}`,
            args: [THIS_DATABASE, setting.name, ...values],
          }
        : {
            what: describeSetting(setting),
            template: `ALTER ROLE %I IN DATABASE %I SET %I TO ${value}`,
            args: [setting.role, THIS_DATABASE, setting.name, ...values],
          },
    );
  }
  return statements;
}

/** Text as SQL that holds only hex digits: its UTF-8 bytes, decoded by the server. */
function hexText(text: string): string {
  return `pg_catalog.convert_from(pg_catalog.decode('${Buffer.from(text, 'utf8').toString('hex')}', 'hex'), 'UTF8')`;
}

/** Every character outside printable ASCII as `\uXXXX`: a message any client encoding can show. */
function asciiOnly(text: string): string {
  return text.replace(
    /[^\x20-\x7e]/gu,
    (char) => `\\u${(char.codePointAt(0) as number).toString(16).padStart(4, '0')}`,
  );
}

/**
 * The SQL that gives the database it runs in the recorded comment and settings: Warden writes it
 * at the start of every dump, and applies it to a database restored from an older backup. It is
 * ASCII and holds no quoted text: names and values are hex-encoded UTF-8 decoded by the server, so
 * it means the same in any client encoding and with `standard_conforming_strings` either way. Each
 * statement runs in its own block: one that fails (its role missing on this server, a setting only
 * a superuser may make) becomes a WARNING, psql goes on, and the restore's proof names what is
 * missing. `''` when there is nothing to give.
 */
export function propertiesSection(properties: DatabaseProperties): string {
  const statements = propertyStatements(properties);
  if (statements.length === 0) return '';
  const blocks = statements.map((statement) => {
    const args = statement.args.map((arg) =>
      arg === THIS_DATABASE ? 'pg_catalog.current_database()' : hexText(arg),
    );
    return [
      '  BEGIN',
      `    EXECUTE pg_catalog.format('${statement.template}', ${args.join(', ')});`,
      '  EXCEPTION WHEN OTHERS THEN',
      `    not_restored := not_restored || ${hexText(asciiOnly(statement.what))};`,
      '    reasons := reasons || SQLERRM;',
      '  END;',
    ].join('\n');
  });
  return `--
-- Warden: the database's comment and settings (ALTER DATABASE ... SET, ALTER ROLE ... IN DATABASE
-- ... SET), which pg_dump does not write, given to the database this file is restored into. Names
-- and values are hex-encoded UTF-8. One that cannot be restored (its role does not exist on this
-- server, or only a superuser may make the setting) is reported as a WARNING; the restore goes on.
--

DO $warden$
DECLARE
  not_restored text[] := '{}';
  reasons text[] := '{}';
BEGIN
${blocks.join('\n')}
  FOR i IN 1 .. coalesce(pg_catalog.array_length(not_restored, 1), 0) LOOP
    BEGIN
      RAISE WARNING 'warden: % was not restored: %', not_restored[i], reasons[i];
    EXCEPTION WHEN OTHERS THEN
      -- The reason holds a name this client encoding cannot show.
      RAISE WARNING 'warden: % was not restored', not_restored[i];
    END;
  END LOOP;
END
$warden$;

`;
}

/**
 * Gives the connected database the recorded comment and settings, for a backup whose dump does not
 * carry them (made before dumps did). What fails is not thrown: the comparison that follows names
 * it as missing.
 */
export async function applyDatabaseProperties(
  client: pg.Client,
  properties: DatabaseProperties,
): Promise<void> {
  const section = propertiesSection(properties);
  if (section === '') return;
  await client.query(section).catch(() => undefined);
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
  const key = (setting: Setting) => JSON.stringify([setting.role, setting.name]);
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
