/**
 * `npm run bench:backup-compare -- --database NAME [--runs 7] CHECKOUT_A CHECKOUT_B`
 *
 * The cost of a change to the backup, e.g. the content digests: Warden's `backup:create` of two
 * checkouts (each with its own `npm ci`; `git worktree add ../before <commit>` makes one) on the
 * same database, into a local backup directory, interleaved with their order alternating. Prints
 * per checkout the median wall and CPU time (the process and its children: pg_dump, the
 * compressor; not the server) and B's ratio to A. Build the data set first, e.g. with
 * `npm run bench:backup -- --scale 300 --keep` (database `warden_bench_s300`).
 *
 * Environment: PGHOST (127.0.0.1), PGPORT (5432), PGUSER (postgres).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Measured, measure, median, PG, run } from './bench-dataset.js';

function parseArgs(argv: string[]): { database: string; runs: number; checkouts: [string, string] } {
  let database = '';
  let runs = 7;
  const checkouts: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--database') database = argv[++i] ?? '';
    else if (arg === '--runs') runs = Number(argv[++i]);
    else if (arg.startsWith('--')) throw new Error(`unknown argument ${arg}`);
    else checkouts.push(path.resolve(arg));
  }
  if (!database || checkouts.length !== 2 || !Number.isInteger(runs) || runs < 1) {
    throw new Error('usage: --database NAME [--runs N] CHECKOUT_A CHECKOUT_B');
  }
  return { database, runs, checkouts: checkouts as [string, string] };
}

async function backupOnce(checkout: string, database: string): Promise<Measured> {
  const work = await mkdtemp(path.join(tmpdir(), 'warden-bench-compare-'));
  try {
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? tmpdir(),
      DATABASE_URL: `postgres://${PG.user}@${PG.host}:${PG.port}/${database}`,
      BACKUP_ENVIRONMENT: 'bench',
      BACKUP_DIR: path.join(work, 'store'),
      BACKUP_SPOOL_DIR: path.join(work, 'spool'),
      QUEUE_PREFIX: `warden-bench-compare-${process.pid}`,
      LOG_LEVEL: 'warn',
    };
    return await measure(async () => {
      const child = spawn(
        process.execPath,
        ['--max-semi-space-size=1', 'scripts/run.mjs', 'apps/worker/src/cli/backup-create.ts'],
        { cwd: checkout, env, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr = (stderr + chunk.toString()).slice(-4000);
      });
      const [code] = (await once(child, 'close')) as [number | null];
      if (code !== 0) throw new Error(`backup:create in ${checkout} exited with ${code}: ${stderr.trim()}`);
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { database, runs, checkouts } = parseArgs(process.argv.slice(2));
  // run.mjs bundles on the first start after a change; no timed run pays for that.
  for (const checkout of checkouts) {
    await run(process.execPath, ['scripts/run.mjs', 'apps/worker/src/cli/backup-create.ts', '--help'], {
      cwd: checkout,
    });
  }
  const results: [Measured[], Measured[]] = [[], []];
  for (let index = 0; index < runs; index++) {
    for (const side of index % 2 === 0 ? [0, 1] : [1, 0]) {
      const measured = await backupOnce(checkouts[side] as string, database);
      results[side as 0 | 1].push(measured);
      process.stderr.write(
        `run ${index + 1} ${checkouts[side]}: ${(measured.ms / 1000).toFixed(2)} s, cpu ${(measured.cpuMs / 1000).toFixed(2)} s\n`,
      );
    }
  }
  const wall = (list: Measured[]) => median(list.map((item) => item.ms));
  const cpu = (list: Measured[]) => median(list.map((item) => item.cpuMs));
  console.log(`backup:create of ${database}, medians of ${runs} interleaved runs:`);
  results.forEach((list, side) => {
    console.log(
      `  ${side === 0 ? 'A' : 'B'} ${checkouts[side]}: wall ${(wall(list) / 1000).toFixed(2)} s (runs ${list.map((item) => (item.ms / 1000).toFixed(2)).join(' ')}), cpu ${(cpu(list) / 1000).toFixed(2)} s`,
    );
  });
  console.log(
    `  B / A: wall ${(wall(results[1]) / wall(results[0])).toFixed(3)}x, cpu ${(cpu(results[1]) / cpu(results[0])).toFixed(3)}x`,
  );
}

await main();
