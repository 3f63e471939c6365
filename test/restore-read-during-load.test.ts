import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parseDatabaseUrl, runBackup, runRestoreTest, startContentCheck } from '@warden/backup';
import type { BackupManifest } from '@warden/catalog';
import { createLogger } from '@warden/logging';
import { type BackupStorage, createLocalStorage } from '@warden/storage';
import { execa } from 'execa';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDatabase,
  dropDatabase,
  pgUrl,
  targetSpecFor,
  testBackupSettings,
  withClient,
} from './helpers/pg-fixtures.js';

/**
 * A restore's proof reads each table back as soon as psql reports its COPY committed. Here the
 * "load" is a database restored beforehand, and the test says when each COPY committed: a table
 * locked by the test keeps the early read of it waiting, which shows it started before the load
 * ended, and a row the test adds only afterwards shows that a table read too early is read again.
 */
const logger = createLogger({ service: 'restore-read-during-load-test', level: 'silent' });
const suffix = randomBytes(4).toString('hex');
const sourceName = `warden_rdl_${suffix}`;
const databases = new Set<string>();
let work: string;
let backup: BackupManifest;
let sql: Buffer;
let storage: BackupStorage;

/** A fresh database holding what the backup's file restores to. */
async function loaded(label: string): Promise<string> {
  const name = `${sourceName}_${label}`;
  await createDatabase(name);
  databases.add(name);
  await execa('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1'], {
    input: sql,
    env: { PGHOST: '127.0.0.1', PGUSER: 'postgres', PGDATABASE: name },
    stdout: 'ignore',
  });
  return name;
}

function proofOf(database: string) {
  const url = pgUrl(database);
  return startContentCheck({
    manifest: backup,
    url,
    params: parseDatabaseUrl(url),
    psqlPath: 'psql',
    signal: AbortSignal.timeout(60_000),
  });
}

/** Waits until the proof's read-back session of `database` waits for a lock on `table`. */
async function readBackWaitsFor(database: string, table: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const waiting = await withClient('postgres', (client) =>
      client.query(
        `SELECT 1 FROM pg_stat_activity
          WHERE datname = $1 AND application_name = 'warden-restore-check'
            AND wait_event_type = 'Lock' AND query LIKE $2`,
        [database, `COPY "public"."${table}"%`],
      ),
    );
    if (waiting.rowCount) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the read-back of ${table} never started`);
}

/** An open transaction holding `table` locked; `release` runs `sql` in it and commits. */
async function lockTable(database: string, table: string) {
  const client = new pg.Client({ connectionString: pgUrl(database) });
  client.on('error', () => undefined);
  await client.connect();
  await client.query(`BEGIN; LOCK TABLE public.${table} IN ACCESS EXCLUSIVE MODE`);
  return {
    async release(sql = '') {
      if (sql) await client.query(sql);
      await client.query('COMMIT');
      await client.end();
    },
  };
}

beforeAll(async () => {
  await createDatabase(sourceName);
  databases.add(sourceName);
  await withClient(sourceName, (client) =>
    client.query(`
      CREATE TABLE a (id int PRIMARY KEY, v text);
      CREATE TABLE b (id int PRIMARY KEY, v text);
      CREATE TABLE c (id int PRIMARY KEY, v text);
      INSERT INTO a SELECT g, 'a' || g FROM generate_series(1, 200) g;
      INSERT INTO b SELECT g, 'b' || g FROM generate_series(1, 300) g;
      INSERT INTO c SELECT g, 'c' || g FROM generate_series(1, 100) g;
    `),
  );
  work = await mkdtemp(join(tmpdir(), 'warden-read-during-load-'));
  storage = createLocalStorage({ dir: join(work, 'store') });
  backup = await runBackup(
    { storage, logger },
    {
      target: targetSpecFor({ name: sourceName, url: pgUrl(sourceName) }),
      ...testBackupSettings(work),
      retention: false,
    },
  );
  sql = gunzipSync(await readFile(join(work, 'store', backup.key)));
  expect(backup.content?.tables.map((table) => table.name)).toEqual(['a', 'b', 'c']);
}, 120_000);

afterAll(async () => {
  await storage?.close();
  for (const name of databases) await dropDatabase(name);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the proof reads tables back while the load goes on', () => {
  it('reads a table once its COPY is reported, and reads one that was read too early again', async () => {
    const database = await loaded('early');
    // b lacks a row when it is first read, as if its data were not all loaded yet.
    await withClient(database, (client) => client.query('DELETE FROM b WHERE id = 7'));
    const lock = await lockTable(database, 'c');
    const proof = proofOf(database);
    proof.copyCommitted(0);
    proof.copyCommitted(1);
    proof.copyCommitted(2);
    // One session reads in the order the COPYs came: a and b are read once it waits for c.
    await readBackWaitsFor(database, 'c');
    await withClient(database, (client) => client.query("INSERT INTO b VALUES (7, 'b7')"));
    await lock.release();
    const { problems, check } = await proof.finish();
    expect(problems).toEqual([]);
    expect(check).toMatchObject({ content: 'matched', rowCounts: 'matched' });
  }, 120_000);

  it('reports a table the load really left short, read early or not', async () => {
    const database = await loaded('short');
    await withClient(database, (client) => client.query('DELETE FROM b WHERE id = 7'));
    for (const commits of [3, 0]) {
      const proof = proofOf(database);
      for (let at = 0; at < commits; at++) proof.copyCommitted(at);
      const { problems } = await proof.finish();
      expect(problems, `${commits} COPYs reported`).toEqual([
        `table "public"."b": 300 rows in the backup's snapshot, 299 after restore`,
      ]);
    }
  }, 120_000);

  it('reads everything after the load when a COPY was reported twice', async () => {
    const database = await loaded('miscounted');
    await withClient(database, (client) => client.query('DELETE FROM a WHERE id = 1'));
    const lock = await lockTable(database, 'b');
    const proof = proofOf(database);
    proof.copyCommitted(0);
    proof.copyCommitted(1);
    await readBackWaitsFor(database, 'b');
    // a was read short; the COPY reported twice makes every early read count for nothing.
    proof.copyCommitted(1);
    proof.copyCommitted(2);
    await lock.release("INSERT INTO a VALUES (1, 'a1')");
    const { problems, check } = await proof.finish();
    expect(problems).toEqual([]);
    expect(check.content).toBe('matched');
  }, 120_000);
});

describe('a restore test', () => {
  it('has the proof reading tables while psql still builds the indexes', async () => {
    const name = `${sourceName}_slow`;
    await createDatabase(name);
    databases.add(name);
    await withClient(name, (client) =>
      client.query(`
        CREATE TABLE t (id int PRIMARY KEY, v text);
        INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g;
        -- 20 ms per row: the index build after the data takes about two seconds.
        CREATE FUNCTION slow(integer) RETURNS integer LANGUAGE sql IMMUTABLE
          AS 'SELECT $1 FROM pg_catalog.pg_sleep(0.02)';
        CREATE INDEX t_slow ON t (slow(id));
      `),
    );
    const target = targetSpecFor({ name, url: pgUrl(name) });
    await runBackup({ storage, logger }, { target, ...testBackupSettings(work), retention: false });
    // The proof's session is connected, its table read, while the loading psql builds the index.
    let overlapped = false;
    let testing = true;
    const watching = (async () => {
      while (testing && !overlapped) {
        const { rows } = await withClient('postgres', (client) =>
          client.query<{ application_name: string; query: string; state: string }>(
            `SELECT application_name, query, state FROM pg_stat_activity WHERE datname LIKE $1`,
            [`${name}%`],
          ),
        );
        const indexing = rows.some(
          (row) =>
            row.application_name === 'warden-restore' &&
            row.state === 'active' &&
            row.query.startsWith('CREATE INDEX'),
        );
        overlapped = indexing && rows.some((row) => row.application_name === 'warden-restore-check');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const outcome = await runRestoreTest({ storage, logger }, { target, spoolDir: join(work, 'spool') });
    testing = false;
    await watching;
    expect(outcome.record.status).toBe('passed');
    expect(outcome.check?.content).toBe('matched');
    expect(overlapped).toBe(true);
  }, 120_000);
});
