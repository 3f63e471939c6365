/**
 * Databases restores leave behind, on the real Postgres with real CLI processes: a restore into a
 * new database is listed by `backup:restore -- --list-restored` and `GET /api/admin/restored-databases`;
 * a restore test drops the scratch database a killed test left, and leaves none of its own.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runRestoreTest } from '@warden/backup';
import { createLocalStorage } from '@warden/storage';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createApiFixture, makeTarget } from './helpers/api-fixtures.js';
import {
  createDatabase,
  createTestDatabase,
  dropDatabase,
  listDatabases,
  type TestDatabase,
} from './helpers/pg-fixtures.js';
import { startWardenProcess, testEnv } from './helpers/processes.js';

let workDir: string;
let database: TestDatabase;

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'warden-restored-'));
  database = await createTestDatabase({ prefix: 'warden_left', seed: { orders: 50 } });
});

afterAll(async () => {
  for (const name of await listDatabases()) {
    if (name.startsWith(`${database.name}_`)) await dropDatabase(name);
  }
  await database?.drop();
  await rm(workDir, { recursive: true, force: true });
});

async function cli(script: string, args: string[] = []) {
  const run = startWardenProcess(
    `apps/worker/src/cli/${script}.ts`,
    testEnv({
      DATABASE_URL: database.url,
      BACKUP_ENVIRONMENT: 'left',
      BACKUP_DIR: path.join(workDir, 'backups'),
      BACKUP_SPOOL_DIR: path.join(workDir, 'spool'),
      BACKUP_MIN_FREE_MB: '0',
    }),
    args,
  );
  const stdout: string[] = [];
  run.child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk.toString()));
  const code = await run.exited;
  return { code, stdout: stdout.join(''), lines: run.lines };
}

describe('databases left by restores', () => {
  it("are listed by the CLI and the API, and a restore test drops a killed one's scratch database", async () => {
    expect((await cli('backup-create')).code).toBe(0);
    const restored = await cli('backup-restore', ['--latest']);
    expect(restored.code).toBe(0);
    const into = (JSON.parse(restored.stdout.trim()) as { database: string }).database;
    expect(into).toMatch(new RegExp(`^${database.name}_restore_\\d{8}_\\d{6}$`));

    // A scratch database a killed restore test left a day ago, and one a test could still be using.
    const stale = await createDatabase(`${database.name}_verify_20200101_000000`);
    const listed = await cli('backup-restore', ['--list-restored', '--json']);
    expect(listed.code).toBe(0);
    const report = JSON.parse(listed.stdout.trim()) as {
      databases: { target: string; database: string; kind: string; bytes: number }[];
      errors: unknown[];
    };
    expect(report.errors).toEqual([]);
    expect(report.databases.map((entry) => [entry.database, entry.kind]).sort()).toEqual(
      [
        [into, 'restore'],
        [stale, 'verify'],
      ].sort(),
    );
    expect(report.databases.every((entry) => entry.target === database.name && entry.bytes > 0)).toBe(true);

    const fixture = await createApiFixture({
      name: 'restored-dbs',
      targets: [makeTarget(database.name, { database: database.name, databaseUrl: database.url })],
    });
    try {
      const response = await fixture.app.inject({ url: '/api/admin/restored-databases', headers: bearer() });
      expect(response.statusCode).toBe(200);
      expect(
        response
          .json()
          .databases.map((entry: { database: string }) => entry.database)
          .sort(),
      ).toEqual([into, stale].sort());
    } finally {
      await fixture.close();
    }

    // A server that cannot be asked is reported, with a non-zero exit.
    const unreachable = startWardenProcess(
      'apps/worker/src/cli/backup-restore.ts',
      testEnv({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' }),
      ['--list-restored'],
    );
    expect(await unreachable.exited).toBe(1);
    expect(unreachable.lines.join('\n')).toMatch(/cannot list the databases of none: /);

    // A restore test: the stale scratch database goes, and the test leaves none of its own.
    const outcome = await runRestoreTest(
      {
        storage: createLocalStorage({ dir: path.join(workDir, 'backups') }),
        logger: pino({ level: 'silent' }),
      },
      {
        target: {
          name: database.name,
          environment: 'left',
          database: database.name,
          databaseUrl: database.url,
          retentionDays: 30,
          keepLast: 1,
        },
        spoolDir: path.join(workDir, 'spool'),
        timeoutMs: 60_000,
      },
    );
    expect(outcome.record.status).toBe('passed');
    const left = (await listDatabases()).filter((name) => name.startsWith(`${database.name}_verify_`));
    expect(left).toEqual([]);
  });
});
