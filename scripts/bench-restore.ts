/**
 * `npm run bench:restore -- [--scale 200] [--tables 800] [--runs 5] [--keep] [--fresh]`
 *
 * Compares, on the same backup file, a plain restore in one transaction (psql's fastest: a single
 * commit) with Warden's restore and Warden's restore test (the proof: counts, every table read back
 * and digested, sequences, large objects, database properties, the scratch database dropped):
 *
 *   gunzip -c f.sql.gz | PGOPTIONS='-c session_replication_role=replica' \
 *     psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d new
 *
 * Warden's restore runs statement by statement with `synchronous_commit=off` instead
 * (docs/restore-proof.md says why).
 *
 * Two data sets: the backup bench's database of scale N (about N MB of plain SQL, see
 * `bench-dataset.ts`), and a schema of `--tables` small tables (each with a serial key, an index,
 * a few hundred rows), where per-table costs dominate. (Each such table takes about six locks in
 * the plain restore's one transaction: with the default max_locks_per_transaction, 64, and 100
 * connections, about 1,500 tables already fail it with "out of shared memory", so `--tables` stays
 * below that; Warden's restore has no such limit.) The backup is made once per data set with Warden
 * (local storage in a temporary directory); then plain restore, Warden restore and restore test run
 * interleaved, their order rotating from run to run, `--runs` times each.
 *
 * Printed per data set: the median wall time of each, the restore test's ratio to the plain
 * restore (the budget is 1.3), the same for CPU time, and where the restore test's time goes (by
 * its progress phases). CPU time is this process's (`process.cpuUsage`) plus that of its ended
 * child processes (gunzip, psql; `cutime + cstime` of /proc/self/stat); "machine" is the CPU time
 * of every process on the machine meanwhile (/proc/stat), the PostgreSQL server's included (the
 * restore test's read-back is mostly server work). The machine may be shared: medians of
 * interleaved runs, and the CPU figures, are the ones to read.
 *
 * Databases are named `<BENCH_DATABASE_PREFIX>_s<N>` / `_t<N>` (prefix `warden_bench`), reused
 * when a previous run kept them (`--keep`), rebuilt with `--fresh`. Environment: PGHOST
 * (127.0.0.1), PGPORT (5432), PGUSER (postgres).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  type BackupTargetSpec,
  type RestoreProgress,
  restoreBackup,
  runBackup,
  runRestoreTest,
} from '@warden/backup';
import { createLogger } from '@warden/logging';
import { createLocalStorage } from '@warden/storage';
import {
  buildDatabase,
  DATABASE_PREFIX,
  databaseIsReady,
  databaseName,
  type Measured,
  measure,
  median,
  mustRun,
  PG,
  psql,
  SQL_BYTES_PER_SCALE,
} from './bench-dataset.js';

const BUDGET = 1.3;
/** Signature of the many-tables schema: a kept database with another one is rebuilt. */
const TABLES_SIGNATURE = 'v1';
const ROWS_PER_TABLE = 300;

interface Flags {
  scale: number;
  tables: number;
  runs: number;
  keep: boolean;
  fresh: boolean;
}

function parseArgs(argv: string[]): Flags {
  const flags: Flags = { scale: 200, tables: 800, runs: 5, keep: false, fresh: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const [name, inline] = arg.includes('=') ? (arg.split('=', 2) as [string, string]) : [arg, undefined];
    const value = () => Number(inline ?? argv[++i]);
    if (name === '--scale') flags.scale = value();
    else if (name === '--tables') flags.tables = value();
    else if (name === '--runs') flags.runs = value();
    else if (name === '--keep') flags.keep = true;
    else if (name === '--fresh') flags.fresh = true;
    else throw new Error(`unknown argument ${arg}`);
  }
  for (const [name, value, min] of [
    ['--scale', flags.scale, 0],
    ['--tables', flags.tables, 0],
    ['--runs', flags.runs, 1],
  ] as const) {
    if (!Number.isInteger(value) || value < min || value > 100_000) {
      throw new Error(`${name} takes an integer from ${min} (0 leaves that data set out)`);
    }
  }
  return flags;
}

function tablesDatabaseName(tables: number): string {
  return `${DATABASE_PREFIX}_t${tables}`;
}

/** `tables` small tables in 10 schemas, one a quoted mixed-case name; sequences advanced. */
async function buildTablesDatabase(tables: number): Promise<void> {
  const name = tablesDatabaseName(tables);
  await psql('postgres', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await psql('postgres', `CREATE DATABASE ${name}`);
  const statements: string[] = [];
  for (let schema = 0; schema < 10; schema++) statements.push(`CREATE SCHEMA s${schema};`);
  for (let i = 0; i < tables; i++) {
    const table = `s${i % 10}."Table_${i}"`;
    statements.push(
      `CREATE TABLE ${table} (id serial PRIMARY KEY, label text NOT NULL, amount numeric(10,2), at timestamptz, doc jsonb);`,
      `INSERT INTO ${table} (label, amount, at, doc) SELECT md5((g * ${i + 1})::text), g * 1.25, timestamptz '2024-01-01' + g * interval '1 hour', jsonb_build_object('n', g, 't', ${i}) FROM generate_series(1, ${ROWS_PER_TABLE}) g;`,
      `CREATE INDEX ON ${table} (label);`,
    );
  }
  statements.push(
    'CREATE TABLE bench_meta (signature text NOT NULL);',
    `INSERT INTO bench_meta VALUES ('${TABLES_SIGNATURE}|${tables}');`,
  );
  // Batches keep each psql's script (and the server's memory for it) moderate.
  for (let at = 0; at < statements.length; at += 3000) {
    await mustRun(
      'psql',
      ['-h', PG.host, '-p', PG.port, '-U', PG.user, '-d', name, '-X', '-q', '-v', 'ON_ERROR_STOP=1'],
      {
        input: [statements.slice(at, at + 3000).join('\n')],
      },
    );
  }
  await psql(name, 'VACUUM ANALYZE');
}

async function tablesDatabaseIsReady(tables: number): Promise<boolean> {
  const name = tablesDatabaseName(tables);
  if ((await psql('postgres', `SELECT 1 FROM pg_database WHERE datname = '${name}'`)) !== '1') return false;
  return (
    (await psql(name, 'SELECT signature FROM bench_meta').catch(() => '')) === `${TABLES_SIGNATURE}|${tables}`
  );
}

/** Milliseconds per progress phase, from one phase's first report to the next one's. */
function phaseTimer() {
  const phases = new Map<string, number>();
  let current: { phase: string; at: number } | undefined;
  const close = (at: number) => {
    if (current) phases.set(current.phase, (phases.get(current.phase) ?? 0) + at - current.at);
  };
  return {
    onProgress(update: RestoreProgress) {
      if (update.phase === current?.phase) return;
      const at = performance.now();
      close(at);
      current = { phase: update.phase, at };
    },
    finish(): Map<string, number> {
      close(performance.now());
      current = undefined;
      return phases;
    },
  };
}

/** What the phases mean in a restore test, in order. */
const PHASE_NAMES: [string, string][] = [
  ['prepare', 'plan (connect, names, event triggers)'],
  ['download', 'download + integrity check'],
  ['verify', 'create database'],
  ['restore', 'psql'],
  ['check', 'proof (counts, read-back, sequences, properties) + drop'],
  ['done', 'record the verification in the manifest'],
];

interface DataSetResult {
  label: string;
  sqlBytes: number;
  plain: Measured[];
  restore: Measured[];
  test: Measured[];
  phases: Map<string, number>[];
}

async function benchDataSet(
  label: string,
  database: string,
  flags: Flags,
  work: string,
  log: (line: string) => void,
): Promise<DataSetResult> {
  const logger = createLogger({ service: 'bench-restore', level: 'warn' });
  const storeDir = path.join(work, `store-${database}`);
  const storage = createLocalStorage({ dir: storeDir });
  const target: BackupTargetSpec = {
    name: database,
    environment: 'bench',
    databaseUrl: `postgres://${PG.user}@${PG.host}:${PG.port}/${database}`,
    database,
    retentionDays: 30,
    keepLast: 10,
  };
  const spoolDir = path.join(work, 'spool');
  const manifest = await runBackup(
    { storage, logger },
    {
      target,
      spoolDir,
      minFreeBytes: 0,
      timeoutMs: 3_600_000,
      uploadRetryAttempts: 0,
      uploadRetryDelayMs: 0,
      retention: false,
    },
  );
  const file = path.join(storeDir, manifest.key);
  log(`  ${label}: backup ${manifest.filename}, ${(manifest.sql_bytes / 1048576).toFixed(1)} MB of SQL`);
  const result: DataSetResult = {
    label,
    sqlBytes: manifest.sql_bytes,
    plain: [],
    restore: [],
    test: [],
    phases: [],
  };
  const plainDatabase = `${database}_plain`;
  const restored = `${database}_restored`;
  const kinds = ['plain', 'restore', 'test'] as const;
  try {
    for (let run = 0; run < flags.runs; run++) {
      for (let step = 0; step < kinds.length; step++) {
        const kind = kinds[(run + step) % kinds.length] as (typeof kinds)[number];
        if (kind === 'plain') {
          await psql('postgres', `CREATE DATABASE ${plainDatabase} TEMPLATE template0`);
          const measured = await measure(() =>
            mustRun(
              'bash',
              [
                '-c',
                'set -o pipefail; gunzip -c "$1" | psql -X -q -v ON_ERROR_STOP=1 --single-transaction >/dev/null',
                'plain-restore',
                file,
              ],
              {
                env: {
                  ...process.env,
                  PGHOST: PG.host,
                  PGPORT: PG.port,
                  PGUSER: PG.user,
                  PGDATABASE: plainDatabase,
                  PGOPTIONS: '-c session_replication_role=replica',
                },
              },
            ),
          );
          await psql('postgres', `DROP DATABASE ${plainDatabase} WITH (FORCE)`);
          result.plain.push(measured);
        } else if (kind === 'restore') {
          const measured = await measure(() =>
            restoreBackup(
              { storage, logger },
              { target, file: manifest.filename, database: restored, spoolDir },
            ),
          );
          await psql('postgres', `DROP DATABASE ${restored} WITH (FORCE)`);
          result.restore.push(measured);
        } else {
          const phases = phaseTimer();
          let passed = false;
          const measured = await measure(async () => {
            const outcome = await runRestoreTest(
              { storage, logger },
              { target, file: manifest.filename, spoolDir, onProgress: phases.onProgress },
            );
            passed = outcome.record.status === 'passed' && outcome.check?.content === 'matched';
            if (!passed) throw new Error(`restore test did not pass: ${JSON.stringify(outcome.record)}`);
          });
          result.test.push(measured);
          result.phases.push(phases.finish());
        }
        log(`  ${label} run ${run + 1} ${kind}: ${sec(result[kind].at(-1)?.ms ?? 0)} s`);
      }
    }
  } finally {
    await psql('postgres', `DROP DATABASE IF EXISTS ${plainDatabase} WITH (FORCE)`);
    await psql('postgres', `DROP DATABASE IF EXISTS ${restored} WITH (FORCE)`);
    await storage.close();
  }
  return result;
}

const sec = (ms: number) => (ms / 1000).toFixed(2);

function report(result: DataSetResult, runs: number): void {
  const wall = (list: Measured[]) => median(list.map((item) => item.ms));
  const cpu = (list: Measured[]) => median(list.map((item) => item.cpuMs));
  const machine = (list: Measured[]) => sec(median(list.map((item) => item.machineCpuMs))).padStart(6);
  const plain = wall(result.plain);
  const ratio = wall(result.test) / plain;
  console.log('');
  console.log(
    `${result.label} (${(result.sqlBytes / 1048576).toFixed(1)} MB of SQL), medians of ${runs} interleaved runs:`,
  );
  console.log(
    `  gunzip -c | psql  ${sec(plain).padStart(7)} s   cpu ${sec(cpu(result.plain)).padStart(6)} s   machine ${machine(result.plain)} s   runs ${result.plain.map((item) => sec(item.ms)).join(' ')}`,
  );
  console.log(
    `  Warden restore    ${sec(wall(result.restore)).padStart(7)} s   cpu ${sec(cpu(result.restore)).padStart(6)} s   machine ${machine(result.restore)} s   runs ${result.restore.map((item) => sec(item.ms)).join(' ')}   ratio ${(wall(result.restore) / plain).toFixed(2)}x`,
  );
  console.log(
    `  restore test      ${sec(wall(result.test)).padStart(7)} s   cpu ${sec(cpu(result.test)).padStart(6)} s   machine ${machine(result.test)} s   runs ${result.test.map((item) => sec(item.ms)).join(' ')}   ratio ${ratio.toFixed(2)}x (budget ${BUDGET}x: ${ratio <= BUDGET ? 'met' : 'MISSED'})`,
  );
  console.log(
    `  CPU ratio, restore test / plain: ${(cpu(result.test) / Math.max(1, cpu(result.plain))).toFixed(2)}x (this process and its children; "machine" is every process's CPU time, the server's included)`,
  );
  console.log('  restore test by phase (median s):');
  for (const [phase, meaning] of PHASE_NAMES) {
    const values = result.phases.map((phases) => phases.get(phase) ?? 0);
    console.log(`    ${meaning.padEnd(52)} ${sec(median(values)).padStart(7)}`);
  }
}

async function main(): Promise<void> {
  const flags = parseArgs(process.argv.slice(2));
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const work = await mkdtemp(path.join(tmpdir(), 'warden-bench-restore-'));
  const sets: { label: string; database: string }[] = [];
  const built: string[] = [];
  try {
    if (flags.scale > 0) {
      const database = databaseName(flags.scale);
      if (flags.fresh || !(await databaseIsReady(flags.scale))) {
        log(
          `building ${database} (~${Math.round((flags.scale * SQL_BYTES_PER_SCALE) / 1048576)} MB of SQL)…`,
        );
        await buildDatabase(flags.scale);
      }
      built.push(database);
      sets.push({ label: `scale ${flags.scale}`, database });
    }
    if (flags.tables > 0) {
      const database = tablesDatabaseName(flags.tables);
      if (flags.fresh || !(await tablesDatabaseIsReady(flags.tables))) {
        log(`building ${database} (${flags.tables} tables)…`);
        await buildTablesDatabase(flags.tables);
      }
      built.push(database);
      sets.push({ label: `${flags.tables} tables`, database });
    }
    const results: DataSetResult[] = [];
    for (const set of sets) results.push(await benchDataSet(set.label, set.database, flags, work, log));
    console.log('');
    console.log(
      `Restore benchmark: plain gunzip -c | psql vs Warden restore vs restore test (budget: restore test <= ${BUDGET}x plain)`,
    );
    for (const result of results) report(result, flags.runs);
  } finally {
    await rm(work, { recursive: true, force: true });
    if (!flags.keep) {
      for (const database of built)
        await psql('postgres', `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    }
  }
}

await main();
