import type { DatabaseProperties, EventTriggerRecord, TableRowCount } from '@warden/catalog';
import { pgClientConfig } from '@warden/names';
import pg from 'pg';
import { quoteIdent } from '../postgres/connection.js';
import { readEventTriggers, readLargeObjects } from './database-facts.js';
import { readDatabaseProperties } from './database-properties.js';

export interface SnapshotCounts {
  /** Schema and name apart: joined with a dot, `dot."ted.name"` and `"dot.ted".name` would collide. */
  tables: TableRowCount[];
  rowCountsSource: 'snapshot' | 'statistics';
  /** Object counts by kind: schemas, tables, views, indexes, sequences, functions, … */
  schemaObjects: Record<string, number>;
}

/** What a restore must know or prove beyond the dump's SQL, read in the same snapshot. */
export interface SnapshotFacts {
  eventTriggers: EventTriggerRecord[];
  /** Absent when the role may not read the large objects. */
  largeObjects?: { count: number; digest: string };
}

/**
 * A transaction that exports its snapshot so pg_dump (`--snapshot`) sees exactly the data counted
 * here. It must stay open until pg_dump has finished. One read at a time: each runs in a savepoint
 * of the one transaction, and savepoints interleaved would release each other.
 */
export interface DumpSnapshot {
  readonly id: string;
  /** Counts rows (exactly, or from statistics) and schema objects inside the snapshot. */
  count(exact: boolean): Promise<SnapshotCounts>;
  /** The database's comment and settings inside the snapshot (two quick catalog reads). */
  properties(): Promise<DatabaseProperties>;
  /** Event triggers and large objects inside the snapshot. */
  facts(): Promise<SnapshotFacts>;
  /** Ends the transaction (COMMIT when `commit`, else the connection is just closed) and the connection. */
  close(commit?: boolean): Promise<void>;
}

/** Schemas that belong to PostgreSQL itself, not to the application. */
const USER_NAMESPACE = `n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'`;

export async function openDumpSnapshot(
  connectionString: string,
  options: { connectTimeoutMs?: number } = {},
): Promise<DumpSnapshot> {
  const client = new pg.Client({
    ...pgClientConfig(connectionString),
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    application_name: 'warden-snapshot',
  });
  // A broken connection surfaces through the next query; this listener keeps it from crashing the process.
  client.on('error', () => undefined);
  await client.connect();
  let id: string;
  try {
    // pg_dump itself turns these off; the snapshot must outlive a long dump.
    await client.query('SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0');
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const { rows } = await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
    id = rows[0]?.id ?? '';
    if (!id) throw new Error('pg_export_snapshot returned nothing');
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }

  return {
    id,
    async count(exact) {
      return {
        tables: exact
          ? await exactRowCounts(client)
          : await inRolledBackSavepoint(client, () => estimatedRowCounts(client)),
        rowCountsSource: exact ? 'snapshot' : 'statistics',
        schemaObjects: await inRolledBackSavepoint(client, () => schemaObjectCounts(client)),
      };
    },
    properties() {
      return inRolledBackSavepoint(client, () => readDatabaseProperties(client));
    },
    async facts() {
      await client.query('SAVEPOINT warden_facts');
      try {
        const eventTriggers = await readEventTriggers(client);
        await client.query('RELEASE SAVEPOINT warden_facts');
        await client.query('SAVEPOINT warden_large_objects');
        let largeObjects: SnapshotFacts['largeObjects'];
        try {
          largeObjects = await readLargeObjects(client);
          await client.query('RELEASE SAVEPOINT warden_large_objects');
        } catch {
          // Permission denied on some large object: the restore cannot check them either way.
          await client.query('ROLLBACK TO SAVEPOINT warden_large_objects');
        }
        return { eventTriggers, ...(largeObjects ? { largeObjects } : {}) };
      } catch (error) {
        await client.query('ROLLBACK TO SAVEPOINT warden_facts').catch(() => undefined);
        throw error;
      }
    },
    async close(commit = true) {
      try {
        if (commit) await client.query('COMMIT');
      } finally {
        await client.end().catch(() => undefined);
      }
    },
  };
}

/**
 * The application's plain tables (partitions are tables themselves; their parent holds no rows),
 * with their size in pages as the last VACUUM, ANALYZE or CREATE INDEX saw it (read without a lock).
 */
export async function userTables(
  client: pg.Client,
): Promise<{ schema: string; name: string; pages: number }[]> {
  const { rows } = await client.query<{ schema: string; name: string; pages: number }>(
    `SELECT n.nspname AS schema, c.relname AS name, c.relpages AS pages
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND ${USER_NAMESPACE}
      ORDER BY 1, 2`,
  );
  return rows;
}

/** Tables counted per subtransaction: at most this many tables' locks are held at once. */
const COUNT_BATCH_TABLES = 200;

/**
 * Runs the read `work` in a savepoint that is rolled back afterwards, whether `work` succeeded or
 * not. A failed read must not abort the transaction (pg_dump may still be importing its snapshot),
 * and rolling back releases the locks the subtransaction took, while the transaction's REPEATABLE
 * READ snapshot, and so what `work` read, stays the one pg_dump dumps.
 */
async function inRolledBackSavepoint<T>(client: pg.Client, work: () => Promise<T>): Promise<T> {
  await client.query('SAVEPOINT warden_read');
  let result: T;
  try {
    result = await work();
  } catch (error) {
    await client
      .query('ROLLBACK TO SAVEPOINT warden_read; RELEASE SAVEPOINT warden_read')
      .catch(() => undefined);
    throw error;
  }
  await client.query('ROLLBACK TO SAVEPOINT warden_read; RELEASE SAVEPOINT warden_read');
  return result;
}

/**
 * Every application table's exact row count in the snapshot, {@link COUNT_BATCH_TABLES} tables per
 * rolled-back savepoint. Counted in one subtransaction that is kept, the counts would hold a lock on
 * every table (and the indexes the planner looked at) until pg_dump ends, beside pg_dump's own lock
 * per table: a schema of a few thousand tables would exhaust the server's shared lock table
 * (`max_locks_per_transaction` × connections) and fail the counts, or pg_dump itself.
 */
async function exactRowCounts(client: pg.Client): Promise<TableRowCount[]> {
  const tables = await inRolledBackSavepoint(client, () => userTables(client));
  const counts: TableRowCount[] = [];
  for (let at = 0; at < tables.length; at += COUNT_BATCH_TABLES) {
    const batch = tables.slice(at, at + COUNT_BATCH_TABLES);
    counts.push(...(await inRolledBackSavepoint(client, () => countRows(client, batch))));
  }
  return counts;
}

/** Exact `count(*)` of each table, one statement each. */
export async function countRows(
  client: pg.Client,
  tables: readonly { schema: string; name: string }[],
): Promise<TableRowCount[]> {
  const counts: TableRowCount[] = [];
  for (const { schema, name } of tables) {
    // ONLY: rows of inheritance children are counted under the child's own name.
    const { rows } = await client.query<{ count: string }>(
      `SELECT count(*) AS count FROM ONLY ${quoteIdent(schema)}.${quoteIdent(name)}`,
    );
    counts.push({ schema, name, rows: Number(rows[0]?.count ?? 0) });
  }
  return counts;
}

async function estimatedRowCounts(client: pg.Client): Promise<TableRowCount[]> {
  const { rows } = await client.query<{ schema: string; table: string; estimate: string }>(
    `SELECT n.nspname AS schema, c.relname AS table, c.reltuples::bigint::text AS estimate
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND ${USER_NAMESPACE}
      ORDER BY 1, 2`,
  );
  const counts: TableRowCount[] = [];
  for (const row of rows) {
    // -1 means "never analyzed": no estimate exists, so none is recorded.
    const estimate = Number(row.estimate);
    if (estimate >= 0) counts.push({ schema: row.schema, name: row.table, rows: estimate });
  }
  return counts;
}

export async function schemaObjectCounts(client: pg.Client): Promise<Record<string, number>> {
  const { rows } = await client.query<Record<string, string>>(
    `SELECT
       (SELECT count(*) FROM pg_namespace n WHERE ${USER_NAMESPACE}) AS schemas,
       (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p') AND ${USER_NAMESPACE}) AS tables,
       (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'v' AND ${USER_NAMESPACE}) AS views,
       (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'm' AND ${USER_NAMESPACE}) AS materialized_views,
       (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('i', 'I') AND ${USER_NAMESPACE}) AS indexes,
       (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'S' AND ${USER_NAMESPACE}) AS sequences,
       (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'f' AND ${USER_NAMESPACE}) AS foreign_tables,
       (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE p.prokind = 'f' AND ${USER_NAMESPACE}) AS functions,
       (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE p.prokind = 'p' AND ${USER_NAMESPACE}) AS procedures,
       (SELECT count(*) FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace
         WHERE ${USER_NAMESPACE}) AS constraints,
       (SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE NOT t.tgisinternal AND ${USER_NAMESPACE}) AS triggers,
       (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
         WHERE t.typtype IN ('e', 'd', 'r') AND ${USER_NAMESPACE}) AS types,
       (SELECT count(*) FROM pg_extension) AS extensions`,
  );
  const row = rows[0] ?? {};
  return Object.fromEntries(Object.entries(row).map(([kind, value]) => [kind, Number(value)]));
}
