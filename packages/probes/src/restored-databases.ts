import { MAX_IDENTIFIER_BYTES, pgClientConfig, truncateUtf8 } from '@warden/names';
import pg from 'pg';
import { probeErrorMessage, withTimeout } from './with-timeout.js';

/** The middle word of each name a restore gives the databases it creates. */
const KINDS = ['restore', 'verify', 'incoming', 'replaced'] as const;
export type RestoredDatabaseKind = (typeof KINDS)[number];

/** `<database>_<kind>_<YYYYMMDD_HHMMSS>`, with `_2`… when a restore of the same second took the name. */
const GENERATED = /^(.*)_(restore|verify|incoming|replaced)_(\d{8})_(\d{6})(?:_\d{1,2})?$/;

export interface RestoredDatabase {
  target: string;
  database: string;
  /**
   * `restore`: a restore into a new database (yours to keep or drop); `verify`: a restore test's
   * scratch database; `incoming`/`replaced`: what an interrupted overwrite left.
   */
  kind: RestoredDatabaseKind;
  /** When the restore that made it started (from its name). */
  created_at: string;
  bytes: number;
}

export interface RestoredDatabasesTarget {
  name: string;
  /** The target's database, the stem of the names its restores generate. */
  database: string;
  /** Connection URL; never part of a result or message. */
  url: string;
}

export interface RestoredDatabasesReport {
  databases: RestoredDatabase[];
  /** Targets whose server could not be asked. */
  errors: { target: string; error: string }[];
}

/** Whether `name` is one Warden generates for a restore of `database`, and of which kind. */
export function restoredDatabaseOf(
  database: string,
  name: string,
): { kind: RestoredDatabaseKind; createdAt: string } | undefined {
  const match = GENERATED.exec(name);
  if (!match) return undefined;
  const [, stem = '', kind = '', day = '', time = ''] = match;
  const suffix = `_${kind}_${day}_${time}`;
  if (stem !== truncateUtf8(database, MAX_IDENTIFIER_BYTES - suffix.length)) return undefined;
  const createdAt = `${day.slice(0, 4)}-${day.slice(4, 6)}-${day.slice(6, 8)}T${time.slice(0, 2)}:${time.slice(2, 4)}:${time.slice(4, 6)}.000Z`;
  if (Number.isNaN(Date.parse(createdAt))) return undefined;
  return { kind: kind as RestoredDatabaseKind, createdAt };
}

/**
 * The databases restores created on each target's server and left there, found by the names
 * restores give them (see `restoreDatabaseName` in the backup package): new-database restores,
 * and scratch databases a killed restore test or interrupted overwrite could not drop. One
 * connection at a time, so a fleet never holds more than one of the server's connection slots.
 */
export async function findRestoredDatabases(
  targets: readonly RestoredDatabasesTarget[],
  timeoutMs = 10_000,
): Promise<RestoredDatabasesReport> {
  const report: RestoredDatabasesReport = { databases: [], errors: [] };
  for (const target of targets) {
    const client = new pg.Client({
      ...pgClientConfig(target.url),
      connectionTimeoutMillis: timeoutMs,
      query_timeout: timeoutMs,
      application_name: 'warden-restored-databases',
    });
    client.on('error', () => {});
    try {
      const { rows } = await withTimeout(
        (async () => {
          await client.connect();
          return client.query<{ datname: string; bytes: string }>(
            `SELECT datname, pg_database_size(oid)::text AS bytes FROM pg_database
              WHERE datname ~ '_(${KINDS.join('|')})_[0-9]{8}_[0-9]{6}(_[0-9]{1,2})?$' ORDER BY datname`,
          );
        })(),
        timeoutMs,
        `database server of ${target.name}`,
      );
      for (const row of rows) {
        const generated = restoredDatabaseOf(target.database, row.datname);
        if (!generated) continue;
        report.databases.push({
          target: target.name,
          database: row.datname,
          kind: generated.kind,
          created_at: generated.createdAt,
          bytes: Number(row.bytes),
        });
      }
    } catch (error) {
      report.errors.push({ target: target.name, error: probeErrorMessage(error) });
    } finally {
      await client.end().catch(() => {});
    }
  }
  return report;
}
