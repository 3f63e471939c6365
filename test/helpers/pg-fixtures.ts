import { join } from 'node:path';
/**
 * PostgreSQL fixtures for integration tests: uniquely named scratch databases, a realistic seed
 * (several schemas, >= 100k rows of text/numeric/timestamp/json data, indexes, constraints,
 * sequences, views, a trigger) and fingerprints (row count + md5 of ordered contents per table) to
 * compare a database with its restored copy.
 */

import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { BackupTargetSpec } from '@warden/backup';
import { pgClientConfig } from '@warden/names';
import { execa } from 'execa';
import pg from 'pg';

export const PG_HOST = '127.0.0.1';
export const PG_PORT = 5432;
export const PG_SUPERUSER = 'postgres';

/** Connection URL of `database` on the test server. */
export function pgUrl(
  database: string,
  options: { user?: string; password?: string; host?: string; port?: number } = {},
): string {
  const user = encodeURIComponent(options.user ?? PG_SUPERUSER);
  const password = options.password === undefined ? '' : `:${encodeURIComponent(options.password)}`;
  return `postgres://${user}${password}@${options.host ?? PG_HOST}:${options.port ?? PG_PORT}/${encodeURIComponent(database)}`;
}

/** `prefix_<random>`: a valid, unquoted, unique database name. */
export function uniqueDatabaseName(prefix = 'warden_test'): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`.toLowerCase();
}

/** Runs `fn` with a connected client to `database` and always closes it. */
export async function withClient<T>(database: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(pgClientConfig(pgUrl(database)));
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export async function createDatabase(name: string = uniqueDatabaseName()): Promise<string> {
  await withClient('postgres', (client) => client.query(`CREATE DATABASE ${quoteIdent(name)}`));
  return name;
}

/** Drops the database, disconnecting anyone still on it; absent is fine. */
export async function dropDatabase(name: string): Promise<void> {
  await withClient('postgres', (client) =>
    client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`),
  );
}

/** Every database on the shared server, sorted by name. */
export async function listDatabases(): Promise<string[]> {
  return withClient('postgres', async (client) => {
    const { rows } = await client.query<{ datname: string }>('SELECT datname FROM pg_database ORDER BY 1');
    return rows.map((row) => row.datname);
  });
}

export interface SeedOptions {
  /** Rows of `sales.orders`; the other tables scale with it. Total rows ≈ 1.75 × this. @defaultValue 60000 */
  orders?: number;
}

export interface SeedSummary {
  /** `schema.table` → rows inserted. */
  rows: Record<string, number>;
  totalRows: number;
}

/**
 * Seeds a realistic schema: `public`, `sales`, `audit` schemas; an enum, a domain; tables with
 * bigserial/identity keys, foreign keys, unique and check constraints, numeric, timestamptz,
 * jsonb, arrays and text with quotes, backslashes, tabs, newlines and non-ASCII; btree, partial and
 * GIN indexes; a standalone sequence, a view, a materialized view, a function and a trigger.
 */
export async function seedDatabase(database: string, options: SeedOptions = {}): Promise<SeedSummary> {
  const orders = options.orders ?? 60_000;
  const customers = Math.max(10, Math.floor(orders / 3));
  const items = Math.floor(orders / 2);
  const events = Math.floor(orders / 2);
  await withClient(database, async (client) => {
    await client.query(`
      CREATE SCHEMA sales;
      CREATE SCHEMA audit;
      CREATE TYPE sales.order_status AS ENUM ('pending', 'paid', 'shipped', 'cancelled');
      CREATE DOMAIN public.email AS text CHECK (VALUE LIKE '%@%');
      CREATE SEQUENCE public.invoice_number_seq START 1000 INCREMENT 7;

      CREATE TABLE public.customers (
        id bigserial PRIMARY KEY,
        email public.email NOT NULL UNIQUE,
        name text NOT NULL,
        balance numeric(14, 2) NOT NULL DEFAULT 0 CHECK (balance > -1000000),
        created_at timestamptz NOT NULL,
        profile jsonb NOT NULL DEFAULT '{}'::jsonb
      );
      CREATE TABLE sales.orders (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        customer_id bigint NOT NULL REFERENCES public.customers (id),
        status sales.order_status NOT NULL,
        total numeric(12, 2) NOT NULL,
        placed_at timestamptz NOT NULL,
        shipped_on date,
        notes text,
        invoice_number bigint
      );
      CREATE TABLE sales.order_items (
        order_id bigint NOT NULL REFERENCES sales.orders (id) ON DELETE CASCADE,
        line smallint NOT NULL,
        sku text NOT NULL,
        quantity integer NOT NULL CHECK (quantity > 0),
        unit_price double precision NOT NULL,
        PRIMARY KEY (order_id, line)
      );
      CREATE TABLE audit.events (
        id bigserial PRIMARY KEY,
        happened_at timestamp NOT NULL,
        actor text,
        payload jsonb NOT NULL,
        tags text[] NOT NULL DEFAULT '{}'
      );
      CREATE TABLE public.settings (key text PRIMARY KEY, value text NOT NULL, updated_at timestamptz);

      CREATE INDEX orders_customer_idx ON sales.orders (customer_id);
      CREATE INDEX orders_open_idx ON sales.orders (placed_at) WHERE status IN ('pending', 'paid');
      CREATE INDEX events_payload_idx ON audit.events USING gin (payload);
      CREATE INDEX customers_lower_name_idx ON public.customers (lower(name));

      CREATE FUNCTION audit.touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
      CREATE TRIGGER settings_touch BEFORE UPDATE ON public.settings
        FOR EACH ROW EXECUTE FUNCTION audit.touch_updated_at();
    `);
    await client.query(
      `INSERT INTO public.customers (email, name, balance, created_at, profile)
       SELECT 'user' || i || '@example.test',
              initcap(substr(md5(i::text), 1, 8)) || ' ' || CASE WHEN i % 7 = 0 THEN 'O''Brien' ELSE 'Müller' END,
              round(((i * 37) % 100000)::numeric / 3, 2),
              timestamptz '2024-01-01 00:00:00+00' + (i * interval '17 minutes'),
              jsonb_build_object('tier', (ARRAY['free', 'pro', 'team'])[1 + i % 3], 'score', i % 101,
                                 'tags', jsonb_build_array('a' || (i % 5), 'b' || (i % 11)))
         FROM generate_series(1, $1::int) AS i`,
      [customers],
    );
    await client.query(
      `INSERT INTO sales.orders (customer_id, status, total, placed_at, shipped_on, notes, invoice_number)
       SELECT 1 + (i * 7919) % $2::int,
              (ARRAY['pending', 'paid', 'shipped', 'cancelled']::sales.order_status[])[1 + i % 4],
              round(((i * 7717) % 500000)::numeric / 100, 2),
              timestamptz '2025-01-01 00:00:00+00' + (i * interval '53 seconds'),
              CASE WHEN i % 4 = 2 THEN date '2025-01-03' + (i % 300) END,
              CASE WHEN i % 10 = 0 THEN NULL
                   WHEN i % 10 = 1 THEN E'multi\\nline\\tnote with \\\\ backslash and ''quote'' ' || i
                   ELSE 'note ' || md5(i::text) END,
              CASE WHEN i % 3 = 0 THEN nextval('public.invoice_number_seq') END
         FROM generate_series(1, $1::int) AS i`,
      [orders, customers],
    );
    await client.query(
      `INSERT INTO sales.order_items (order_id, line, sku, quantity, unit_price)
       SELECT 1 + (i % $2::int), 1 + i / $2::int, 'SKU-' || upper(substr(md5((i * 3)::text), 1, 10)),
              1 + i % 9, ((i * 31) % 10000) / 7.0
         FROM generate_series(0, $1::int - 1) AS i`,
      [items, orders],
    );
    await client.query(
      `INSERT INTO audit.events (happened_at, actor, payload, tags)
       SELECT timestamp '2025-06-01 12:00:00' + (i * interval '1.5 seconds'),
              CASE WHEN i % 13 = 0 THEN NULL ELSE 'actor-' || (i % 97) END,
              jsonb_build_object('event', (ARRAY['login', 'logout', 'update', 'delete'])[1 + i % 4],
                                 'n', i, 'ratio', round((i % 1000) / 999.0, 6), 'emoji', '✓ ünïcødé',
                                 'nested', jsonb_build_object('ok', i % 2 = 0, 'list', jsonb_build_array(i, i * 2))),
              ARRAY['t' || (i % 3), 't' || (i % 5)]
         FROM generate_series(1, $1::int) AS i`,
      [events],
    );
    await client.query(
      `INSERT INTO public.settings (key, value) VALUES
         ('greeting', E'hello\\tworld\\n"quoted" and ''single'''),
         ('backslash', E'C:\\\\path\\\\to\\\\file'),
         ('unicode', '日本語 — émoji 🎉'),
         ('copy-like', E'\\\\.\\nnot the end of COPY')`,
    );
    await client.query(`
      CREATE VIEW sales.order_totals AS
        SELECT customer_id, count(*) AS orders, sum(total) AS total FROM sales.orders GROUP BY customer_id;
      CREATE MATERIALIZED VIEW audit.daily_events AS
        SELECT date_trunc('day', happened_at) AS day, count(*) AS events FROM audit.events GROUP BY 1;
      ANALYZE;
    `);
  });
  const rows = {
    'audit.events': events,
    'public.customers': customers,
    'public.settings': 4,
    'sales.order_items': items,
    'sales.orders': orders,
  };
  return { rows, totalRows: Object.values(rows).reduce((sum, count) => sum + count, 0) };
}

export interface TableFingerprint {
  rows: number;
  /** md5 of the table's rows as text, in a deterministic order. */
  md5: string;
}

/** Per user table (`schema.table`): exact row count and md5 of the ordered contents. */
export async function tableFingerprints(database: string): Promise<Record<string, TableFingerprint>> {
  return withClient(database, async (client) => {
    const { rows: tables } = await client.query<{ schema: string; table: string }>(
      `SELECT n.nspname AS schema, c.relname AS table
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
        ORDER BY 1, 2`,
    );
    const result: Record<string, TableFingerprint> = {};
    for (const { schema, table } of tables) {
      const { rows } = await client.query<{ rows: string; md5: string }>(
        `SELECT count(*)::text AS rows,
                md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text COLLATE "C"), '')) AS md5
           FROM ONLY ${quoteIdent(schema)}.${quoteIdent(table)} AS t`,
      );
      result[`${schema}.${table}`] = { rows: Number(rows[0]?.rows), md5: rows[0]?.md5 ?? '' };
    }
    return result;
  });
}

/** Row counts only, `schema.table` → rows. */
export async function tableRowCounts(database: string): Promise<Record<string, number>> {
  const fingerprints = await tableFingerprints(database);
  return Object.fromEntries(Object.entries(fingerprints).map(([table, { rows }]) => [table, rows]));
}

/** `schema.sequence` → `last_value`. */
export async function sequenceValues(database: string): Promise<Record<string, number>> {
  return withClient(database, async (client) => {
    const { rows } = await client.query<{ name: string; value: string | null }>(
      `SELECT schemaname || '.' || sequencename AS name, last_value::text AS value
         FROM pg_sequences WHERE schemaname !~ '^pg_' ORDER BY 1`,
    );
    return Object.fromEntries(rows.map((row) => [row.name, Number(row.value ?? 0)]));
  });
}

export interface TestDatabase {
  name: string;
  url: string;
  seed?: SeedSummary;
  drop(): Promise<void>;
}

/** Creates a uniquely named database, seeded unless `seed: false`. */
export async function createTestDatabase(
  options: { prefix?: string; seed?: boolean | SeedOptions } = {},
): Promise<TestDatabase> {
  const name = await createDatabase(uniqueDatabaseName(options.prefix));
  const database: TestDatabase = { name, url: pgUrl(name), drop: () => dropDatabase(name) };
  try {
    if (options.seed !== false) {
      database.seed = await seedDatabase(name, typeof options.seed === 'object' ? options.seed : {});
    }
  } catch (error) {
    await dropDatabase(name);
    throw error;
  }
  return database;
}

/**
 * Restores a plain-SQL dump file (`.sql`, `.sql.gz` or `.sql.zst`) into `database` with
 * `psql -v ON_ERROR_STOP=1`; rejects when psql fails.
 */
export async function restorePlainDump(file: string, database: string): Promise<void> {
  const psql = execa(
    'psql',
    [
      '-X',
      '-q',
      '-v',
      'ON_ERROR_STOP=1',
      '-h',
      PG_HOST,
      '-p',
      String(PG_PORT),
      '-U',
      PG_SUPERUSER,
      '-d',
      database,
    ],
    {
      stdin: 'pipe',
      stdout: 'ignore',
      stderr: 'pipe',
    },
  );
  if (file.endsWith('.zst')) {
    const zstd = execa('zstd', ['-d', '-c', '-q', file], { buffer: false, stdout: 'pipe' });
    await Promise.all([pipeline(zstd.stdout, psql.stdin), zstd, psql]);
  } else if (file.endsWith('.gz')) {
    await Promise.all([pipeline(createReadStream(file), createGunzip(), psql.stdin), psql]);
  } else {
    await Promise.all([pipeline(createReadStream(file), psql.stdin), psql]);
  }
}

/**
 * A backup target on a test database, as the backup pipeline takes it: named after the database,
 * environment `test`, 30 days and 10 copies kept, unless `overrides` say otherwise.
 */
export function targetSpecFor(
  database: Pick<TestDatabase, 'name' | 'url'>,
  overrides: Partial<BackupTargetSpec> = {},
): BackupTargetSpec {
  return {
    name: database.name,
    environment: 'test',
    databaseUrl: database.url,
    database: database.name,
    retentionDays: 30,
    keepLast: 10,
    ...overrides,
  };
}

/**
 * In-process backup settings for tests: spool under `work`, no free-space floor, no upload
 * retries (a failure shows at once), `timeoutMs` for the whole backup.
 */
export function testBackupSettings(work: string, timeoutMs = 120_000) {
  return {
    spoolDir: join(work, 'spool'),
    minFreeBytes: 0,
    timeoutMs,
    uploadRetryAttempts: 0,
    uploadRetryDelayMs: 0,
  };
}

/** A manifest's per-table counts as `schema.table` → rows (unambiguous in these tests' schemas). */
export function manifestRowCounts(manifest: {
  tables?: { schema: string; name: string; rows: number }[];
}): Record<string, number> {
  return Object.fromEntries(
    (manifest.tables ?? []).map((table) => [`${table.schema}.${table.name}`, table.rows]),
  );
}
