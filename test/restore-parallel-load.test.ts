import { randomBytes } from 'node:crypto';
import { startParallelLoad } from '@warden/backup';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, dropDatabase, tableFingerprints, withClient } from './helpers/pg-fixtures.js';

/**
 * The restore's load cuts each COPY block into COPYs for two data sessions and keeps the main
 * session's statements in order around them. Fed in slices of every size (a line, even `\.`,
 * split anywhere), with COPYs of a few rows, the database must come out as pg_dump's file says.
 */
const suffix = randomBytes(4).toString('hex');
const sourceName = `warden_pl_${suffix}`;
const databases = new Set<string>([sourceName]);
let sql: Buffer;
const expectedRows: Record<string, number> = { awkward: 7, many: 2_000, empty: 0, wide: 2 };
/** The dump's COPY blocks, in its order. */
const TABLES = ['awkward', 'empty', 'many', 'wide'];

const env = (database: string) => ({
  PGHOST: '127.0.0.1',
  PGUSER: 'postgres',
  PGDATABASE: database,
  PGOPTIONS: '-c synchronous_commit=off',
});

async function loadInto(database: string, sliceBytes: number, chunkBytes: number) {
  const commits: { ordinal: number; rows: Promise<number> }[] = [];
  const load = startParallelLoad({
    psqlPath: 'psql',
    env: env(database),
    signal: AbortSignal.timeout(60_000),
    chunkBytes,
    onCopyCommitted: (ordinal) => {
      // All of the block's rows are visible to another session the moment it is reported.
      const table = TABLES[ordinal] as string;
      commits.push({
        ordinal,
        rows: withClient(database, (client) =>
          client.query<{ n: number }>(`SELECT count(*)::int AS n FROM public.${table}`),
        ).then((result) => result.rows[0]?.n ?? -1),
      });
    },
  });
  for (let at = 0; at < sql.length; at += sliceBytes) await load.write(sql.subarray(at, at + sliceBytes));
  await load.finishData();
  load.main.end();
  const result = await load.main.exited;
  return { load, result, commits };
}

beforeAll(async () => {
  await createDatabase(sourceName);
  await withClient(sourceName, (client) =>
    client.query(String.raw`
      CREATE TABLE awkward (id int PRIMARY KEY, t text);
      INSERT INTO awkward VALUES
        (1, E'tab\there'), (2, E'new\nline'), (3, E'back\\slash'), (4, '\.'), (5, ''), (6, NULL),
        (7, E'\\.\n\\.');
      CREATE TABLE empty (id int);
      CREATE TABLE many (id int PRIMARY KEY, v text);
      INSERT INTO many SELECT g, repeat('x', g % 40) FROM generate_series(1, 2000) g;
      CREATE SEQUENCE counter;
      SELECT setval('counter', 42);
      CREATE INDEX many_v ON many (v);
      -- A row far longer than a COPY's share: the stream waits for its psql rather than pile up.
      CREATE TABLE wide (id int, t text);
      INSERT INTO wide VALUES (1, repeat('w', 1500000)), (2, 'short');
    `),
  );
  const dumped = await execa('pg_dump', ['-h', '127.0.0.1', '-U', 'postgres', sourceName], {
    encoding: 'buffer',
  });
  sql = Buffer.from(dumped.stdout);
}, 60_000);

afterAll(async () => {
  for (const name of databases) await dropDatabase(name);
});

describe('the parallel load', () => {
  for (const [sliceBytes, chunkBytes] of [
    [1, 1],
    [7, 64],
    [4096, 1],
    [1 << 20, 1 << 20],
  ] as const) {
    it(`fed ${sliceBytes} bytes at a time, COPYs of ${chunkBytes} bytes: the same database, each table reported once all its rows are in`, async () => {
      const target = `${sourceName}_${sliceBytes}_${chunkBytes}`;
      await createDatabase(target);
      databases.add(target);
      const { load, result, commits } = await loadInto(target, sliceBytes, chunkBytes);
      expect(load.failed).toBeUndefined();
      expect(result.failed, String(result.stderr)).toBe(false);
      expect(await tableFingerprints(target)).toEqual(await tableFingerprints(sourceName));
      const counter = await withClient(target, (client) =>
        client.query<{ v: string }>('SELECT last_value::text AS v FROM public.counter'),
      );
      expect(counter.rows[0]?.v).toBe('42');
      expect(commits.map((commit) => commit.ordinal).sort()).toEqual([0, 1, 2, 3]);
      expect(await Promise.all(commits.map((commit) => commit.rows))).toEqual(
        commits.map((commit) => expectedRows[TABLES[commit.ordinal] as string]),
      );
    }, 120_000);
  }

  it('a row a data session cannot load fails that session, named by its error', async () => {
    const target = `${sourceName}_bad`;
    await createDatabase(target);
    databases.add(target);
    const broken = Buffer.from(sql.toString('utf8').replace(/^1000\t/m, 'not a number\t'));
    const load = startParallelLoad({
      psqlPath: 'psql',
      env: env(target),
      signal: AbortSignal.timeout(60_000),
      chunkBytes: 256,
    });
    const fed = (async () => {
      for (let at = 0; at < broken.length; at += 512) await load.write(broken.subarray(at, at + 512));
      await load.finishData();
    })();
    await expect(fed).rejects.toThrow();
    load.kill();
    const failed = await load.failure;
    expect((await failed.exited).exitCode).toBe(3);
    expect(failed.stderr.text()).toMatch(/invalid input syntax for type integer: "not a number"/);
  }, 120_000);
});
