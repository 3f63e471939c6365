/**
 * pg_dump and psql are started without a shell, and the database password never appears in their
 * argv (readable by every local user through /proc/<pid>/cmdline). Real processes: `backup:create`,
 * the real pg_dump and psql, a role with a password full of shell metacharacters and a database
 * whose name a shell would expand.
 */

import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { restoreBackup } from '@warden/backup';
import { databaseNameSlug } from '@warden/names';
import { createLocalStorage } from '@warden/storage';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryLogger, makeTarget } from '../helpers/api-fixtures.js';
import { createDatabase, dropDatabase, withClient } from '../helpers/pg-fixtures.js';
import { REPO_ROOT, startWardenProcess, testEnv, waitFor } from '../helpers/processes.js';
import { uniquePrefix } from '../helpers/test-run.js';

const suffix = randomBytes(4).toString('hex');
const ROLE = `warden_sec_${suffix}`;
// `$HOME` would be expanded by a shell; `$(touch …)` would create the marker file.
const DATABASE = `warden_sec_${suffix}_$HOME`;
let workDir: string;
let marker: string;
let password: string;
let databaseUrl: string;
let configFile: string;

/** Every `.ts` source file of the packages and apps, tests excluded. */
function productionSources(): string[] {
  const files: string[] = [];
  for (const top of ['packages', 'apps']) {
    for (const pkg of readdirSync(path.join(REPO_ROOT, top))) {
      const src = path.join(REPO_ROOT, top, pkg, 'src');
      if (!existsSync(src)) continue;
      for (const entry of readdirSync(src, { recursive: true, withFileTypes: true })) {
        if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
          files.push(path.join(entry.parentPath, entry.name));
        }
      }
    }
  }
  return files;
}

/** A wrapper that records its argv, its environment and its parent's command line, then execs `real`. */
function recordingWrapper(name: string, real: string): { path: string; dir: string } {
  const dir = path.join(workDir, `${name}-record`);
  const wrapper = path.join(workDir, name);
  writeFileSync(
    wrapper,
    [
      '#!/bin/sh',
      `if [ "$1" = "--version" ]; then exec ${real} "$@"; fi`,
      `mkdir -p "${dir}"`,
      `printf '%s\\n' "$@" > "${dir}/args"`,
      // Each invocation also keeps its own record: a restore runs psql more than once.
      `printf '%s\\n' "$@" > "${dir}/args.$$"`,
      `tr '\\0' '\\n' < /proc/$PPID/cmdline > "${dir}/parent"`,
      `tr '\\0' '\\n' < /proc/$$/environ > "${dir}/env"`,
      `tr '\\0' '\\n' < /proc/$$/environ > "${dir}/env.$$"`,
      `exec ${real} "$@"`,
      '',
    ].join('\n'),
  );
  chmodSync(wrapper, 0o755);
  return { path: wrapper, dir };
}

/** A superuser client of `database` (names with "$" are passed as a parameter, not in a URL). */
function connectTo(database: string): pg.Client {
  const client = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database });
  client.on('error', () => undefined);
  return client;
}

const readLines = (file: string) => readFileSync(file, 'utf8').trimEnd().split('\n');

/** The pid of a running pg_dump whose libpq environment names `database`. */
function findPgDump(database: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv0 = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')[0] ?? '';
      if (path.basename(argv0) !== 'pg_dump') continue;
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (environ.includes(`PGDATABASE=${database}`)) return Number(entry);
    } catch {
      // The process ended while we looked.
    }
  }
  return undefined;
}

function cliEnv(backupDir: string, extra: Record<string, string> = {}) {
  return testEnv({
    WARDEN_CONFIG: configFile,
    BACKUP_ENVIRONMENT: 'sec',
    REDIS_URL: 'redis://127.0.0.1:6379',
    QUEUE_PREFIX: uniquePrefix(`sec-${suffix}`),
    BACKUP_DIR: backupDir,
    BACKUP_SPOOL_DIR: path.join(workDir, 'spool'),
    BACKUP_MIN_FREE_MB: '0',
    ...extra,
  });
}

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'warden-sec-proc-'));
  marker = path.join(workDir, 'pwned');
  password = `pa$$'"; $(touch ${marker}) \`touch ${marker}\` | & > <`;
  await withClient('postgres', async (client) => {
    await client.query(`CREATE ROLE ${ROLE} LOGIN SUPERUSER PASSWORD ${pg.escapeLiteral(password)}`);
  });
  await createDatabase(DATABASE);
  const seeder = connectTo(DATABASE);
  await seeder.connect();
  await seeder.query(
    `CREATE TABLE items AS SELECT g AS id, 'item ' || g AS label FROM generate_series(1, 500) AS g`,
  );
  await seeder.end();
  // "$" stays literal in the path: node-postgres does not decode "%24" in database names.
  databaseUrl = `postgres://${ROLE}:${encodeURIComponent(password)}@127.0.0.1:5432/${DATABASE}`;
  configFile = path.join(workDir, 'targets.json');
  writeFileSync(configFile, JSON.stringify({ targets: [{ name: 'sec', url: databaseUrl }] }));
});

afterAll(async () => {
  await withClient('postgres', async (client) => {
    const restored = await client.query<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE datname LIKE $1',
      [`warden_sec_${suffix}%`],
    );
    for (const row of restored.rows) await dropDatabase(row.datname);
    await client.query(`DROP ROLE IF EXISTS ${ROLE}`);
  });
  await rm(workDir, { recursive: true, force: true });
});

describe('subprocesses', () => {
  it('no production source starts a process through a shell', () => {
    const forbidden = [
      /\bshell\s*:\s*(?!false\b)/,
      // `regex.exec(` is fine; a bare `exec(` / `execSync(` is child_process's shell form.
      /(?<![.\w])exec(Sync)?\s*\(/,
      /\bexecaCommand(Sync)?\b/,
      /\bexeca(Sync)?\s*`/,
      // zx-style `$`cmd``: a `$` right before a backtick, not a regex's end anchor in a template.
      /(?:^|[\s(=,;])\$\s*`/m,
      /['"](\/bin\/)?(ba|da|z)?sh['"]/,
    ];
    // child_process may be used for spawn/execFile (argument arrays) only.
    const allowedImports = new Set(['spawn', 'execFile', 'ChildProcess', 'StdioOptions', 'SpawnOptions']);
    const offenders: string[] = [];
    const sources = productionSources();
    expect(sources.length).toBeGreaterThan(20);
    for (const file of sources) {
      const text = readFileSync(file, 'utf8');
      const where = path.relative(REPO_ROOT, file);
      for (const pattern of forbidden) {
        if (pattern.test(text)) offenders.push(`${where}: ${pattern}`);
      }
      for (const match of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*'(?:node:)?child_process'/g)) {
        for (const name of (match[1] ?? '')
          .split(',')
          .map((part) => part.replace(/^\s*type\s+/, '').trim())) {
          if (name && !allowedImports.has(name.split(/\s+as\s+/)[0] ?? ''))
            offenders.push(`${where}: imports ${name}`);
        }
      }
      if (/import\s+\*\s+as\s+\w+\s+from\s*'(?:node:)?child_process'/.test(text)) {
        offenders.push(`${where}: namespace import of child_process`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('pg_dump and psql get argument arrays from Node directly; the password travels only in PGPASSWORD', async () => {
    const pgDump = recordingWrapper('pg_dump_rec', 'pg_dump');
    const backupDir = path.join(workDir, 'backups');
    const cli = startWardenProcess(
      'apps/worker/src/cli/backup-create.ts',
      cliEnv(backupDir, { PG_DUMP_PATH: pgDump.path }),
    );
    const stdout: string[] = [];
    cli.child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk.toString()));
    expect(await cli.exited).toBe(0);
    const result = JSON.parse(stdout.join('').trim()) as { status: string; filename: string };
    expect(result.status).toBe('success');
    // The file name carries the name's slug; PGDATABASE below shows `$HOME` reached pg_dump unexpanded.
    expect(result.filename.startsWith(`${databaseNameSlug(DATABASE)}_sec_`)).toBe(true);

    const args = readLines(path.join(pgDump.dir, 'args'));
    expect(args.slice(0, 2)).toEqual(['--format=plain', '--no-password']);
    expect(args[2]).toMatch(/^--snapshot=[0-9A-F-]+$/);
    // The database's encoding, read by the preflight: not something a URL or the environment says.
    expect(args[3]).toBe('--encoding=UTF8');
    expect(args).toHaveLength(4);
    // Started by the node process itself, not by `sh -c`.
    const parent = readLines(path.join(pgDump.dir, 'parent'));
    expect(parent[0]).toBe(process.execPath);
    expect(parent).toContain('apps/worker/src/cli/backup-create.ts');
    const env = readLines(path.join(pgDump.dir, 'env'));
    expect(env).toContain(`PGPASSWORD=${password}`);
    expect(env).toContain(`PGDATABASE=${DATABASE}`);
    expect(env).toContain(`PGUSER=${ROLE}`);
    expect(cli.lines.join('\n')).not.toContain(password);
    expect(existsSync(marker)).toBe(false);

    // psql, through the restore pipeline.
    const psql = recordingWrapper('psql_rec', 'psql');
    const storage = createLocalStorage({ dir: backupDir });
    const { logger } = createMemoryLogger([password]);
    const restored = await restoreBackup(
      { storage, logger },
      {
        target: makeTarget('sec', { databaseUrl, database: DATABASE }),
        file: 'latest',
        spoolDir: path.join(workDir, 'restore-spool'),
        psqlPath: psql.path,
        discard: true,
      },
    );
    await storage.close();
    expect(restored.status).toBe('success');
    const psqlRuns = readdirSync(psql.dir)
      .filter((name) => name.startsWith('args.'))
      .map((name) => ({ args: readLines(path.join(psql.dir, name)), pid: name.slice('args.'.length) }));
    for (const { args } of psqlRuns) expect(args.join(' ')).not.toContain(password.slice(0, 6));
    // The replay itself, a main and two data sessions: each stops at its first error; their
    // session's settings travel in PGOPTIONS.
    const replays = psqlRuns.filter(
      ({ args }) => args.join(' ') === ['-X', '--no-password', '-v', 'ON_ERROR_STOP=1'].join(' '),
    );
    expect(replays.length, JSON.stringify(psqlRuns)).toBe(3);
    for (const replay of replays) {
      expect(readLines(path.join(psql.dir, `env.${replay.pid}`))).toContain(
        'PGOPTIONS=-c synchronous_commit=off -c session_replication_role=replica',
      );
    }
    expect(readLines(path.join(psql.dir, 'parent'))[0]).toBe(process.execPath);
    expect(readLines(path.join(psql.dir, 'env'))).toContain(`PGPASSWORD=${password}`);
    expect(existsSync(marker)).toBe(false);
  });

  it('the running pg_dump shows no password in /proc/<pid>/cmdline', async () => {
    // pg_dump waits for this lock on `items`, so it can be inspected while it runs.
    const blocker = connectTo(DATABASE);
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE items IN ACCESS EXCLUSIVE MODE');
    const cli = startWardenProcess(
      'apps/worker/src/cli/backup-create.ts',
      cliEnv(path.join(workDir, 'backups-proc'), { BACKUP_ROW_COUNTS: 'false' }),
    );
    try {
      const pid = await waitFor(async () => findPgDump(DATABASE), 30_000, 'pg_dump to start');
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      expect(path.basename(cmdline[0] ?? '')).toBe('pg_dump');
      const joined = cmdline.join(' ');
      expect(joined).not.toContain(password);
      expect(joined).not.toContain('pa$$');
      expect(joined).not.toContain('postgres://');
      expect(joined).not.toContain(ROLE);
      // The password is in pg_dump's environment, which only its owner (and root) can read.
      expect(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')).toContain(`PGPASSWORD=${password}`);
      // Not a child of a shell either.
      const ppid = Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
      expect(ppid).toBe(cli.pid);
    } finally {
      await blocker.query('ROLLBACK');
      await blocker.end();
    }
    expect(await cli.exited).toBe(0);
    expect(await readdir(path.join(workDir, 'backups-proc', 'sec'))).toHaveLength(2);
  });
});
