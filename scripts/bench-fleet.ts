/**
 * `npm run bench:fleet`: one Warden (1 API + 2 worker processes, the real entry points) watching a
 * fleet of databases on the local PostgreSQL, every target on the same cron minute, probes every
 * 10 s. For each fleet size it prints start-up, scheduler sync, the peak of PostgreSQL connections
 * Warden held, `/health/detailed` p50/p99, the round's time against targets ÷ slots, Redis memory
 * of Warden's keys and the Slack messages (by kind) of the whole start and round.
 *
 * Options: `--targets=100,300,500` (sizes, run in order), `--concurrency=2` (WORKER_CONCURRENCY).
 * Environment: PGHOST/PGPORT/PGUSER as for psql (default 127.0.0.1:5432 postgres), REDIS_URL.
 * Every database (prefix `wfleet_<run>_`), Redis key, directory and process it made is removed at
 * the end, also after a failure. The server's max_connections is shared: the bench itself holds one
 * connection (the poller) besides Warden's.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';

const root = fileURLToPath(new URL('..', import.meta.url));
const argument = (name: string, fallback: string) =>
  process.argv.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const sizes = argument('targets', '100,300,500')
  .split(',')
  .map((value) => Number(value))
  .filter((value) => Number.isInteger(value) && value > 0);
const workerConcurrency = Number(argument('concurrency', '2'));
const WORKERS = 2;
const PROBE_INTERVAL_SECONDS = 10;
const pgHost = process.env.PGHOST ?? '127.0.0.1';
const pgPort = process.env.PGPORT ?? '5432';
const pgUser = process.env.PGUSER ?? 'postgres';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface SlackCount {
  total: number;
  nonSuccess: string[];
  success: number;
}

/** A stand-in Slack webhook: counts messages, success (green) apart from the rest. */
async function startSlack(): Promise<{ server: Server; url: string; count: SlackCount }> {
  const count: SlackCount = { total: 0, nonSuccess: [], success: 0 };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      count.total += 1;
      const body = Buffer.concat(chunks).toString('utf8');
      const payload = JSON.parse(body) as { text?: string; attachments?: { color?: string }[] };
      if (payload.attachments?.[0]?.color === '#2EB67D') count.success += 1;
      else count.nonSuccess.push((payload.text ?? '').slice(0, 140));
      response.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, count };
}

interface Started {
  child: ChildProcess;
  lines: string[];
  startedAt: number;
}

function startProcess(entry: string, env: NodeJS.ProcessEnv): Started {
  const child = spawn(process.execPath, ['--max-semi-space-size=1', 'scripts/run.mjs', entry], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let rest = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const text = rest + chunk.toString('utf8');
    const parts = text.split('\n');
    rest = parts.pop() ?? '';
    lines.push(...parts);
  });
  child.stderr?.on('data', (chunk: Buffer) => lines.push(chunk.toString('utf8')));
  return { child, lines, startedAt: Date.now() };
}

async function waitForLine(started: Started, pattern: RegExp, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = started.lines.find((candidate) => pattern.test(candidate));
    if (line) return line;
    if (started.child.exitCode !== null)
      throw new Error(`process exited: ${started.lines.slice(-5).join('\n')}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}`);
    await sleep(100);
  }
}

async function stop(started: Started): Promise<void> {
  if (started.child.exitCode !== null) return;
  started.child.kill('SIGTERM');
  const exited = new Promise((resolve) => started.child.once('exit', resolve));
  const killed = sleep(20_000).then(() => started.child.kill('SIGKILL'));
  await Promise.race([exited, killed]);
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};

async function timeHealth(url: string, requests: number) {
  // A few untimed requests first: the first answers pay for JIT and connection set-up.
  for (let index = 0; index < 5; index += 1) await (await fetch(`${url}/health/detailed`)).arrayBuffer();
  const times: number[] = [];
  let status = '';
  let code = 0;
  let falseFailures = 0;
  for (let index = 0; index < requests; index += 1) {
    const start = performance.now();
    const response = await fetch(`${url}/health/detailed`);
    const body = (await response.json()) as {
      status: string;
      services: { database?: { targets?: Record<string, { status: string }> } };
    };
    times.push(performance.now() - start);
    status = body.status;
    code = response.status;
    falseFailures = Object.values(body.services.database?.targets ?? {}).filter(
      (target) => target.status !== 'healthy',
    ).length;
  }
  return { p50: percentile(times, 50), p99: percentile(times, 99), status, code, falseFailures };
}

/** Sum of MEMORY USAGE over the run's keys. */
async function redisBytes(redis: Redis, prefix: string): Promise<number> {
  let total = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) total += Number((await redis.memory('USAGE', key)) ?? 0);
  } while (cursor !== '0');
  return total;
}

async function backupsPerTarget(dir: string, names: string[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const name of names) {
    const files = await readdir(path.join(dir, name)).catch(() => [] as string[]);
    counts.set(name, files.filter((file) => file.endsWith('.manifest.json')).length);
  }
  return counts;
}

interface Row {
  targets: number;
  startupS: number;
  syncS: number;
  peakConnections: number;
  healthP50: number;
  healthP99: number;
  healthStatus: string;
  falseConnectionFailures: number;
  roundS: number;
  exactlyOne: boolean;
  spoolFilesLeft: number;
  redisMb: number;
  slackTotal: number;
  slackSuccess: number;
  slackOther: string[];
}

async function runFleet(count: number): Promise<Row> {
  const run = randomBytes(3).toString('hex');
  const dbPrefix = `wfleet_${run}_`;
  const queuePrefix = `warden-bench-fleet-${run}`;
  const work = await mkdtemp(path.join(tmpdir(), 'warden-bench-fleet-'));
  const admin = new pg.Client({ host: pgHost, port: Number(pgPort), user: pgUser, database: 'postgres' });
  admin.on('error', () => undefined);
  await admin.connect();
  const redis = new Redis(redisUrl);
  redis.on('error', () => undefined);
  const slack = await startSlack();
  const processes: Started[] = [];
  const names = Array.from({ length: count }, (_, index) => `t${String(index).padStart(3, '0')}`);
  try {
    process.stderr.write(`[${count}] creating ${count} databases …\n`);
    const seed = `${dbPrefix}seed`;
    await admin.query(`CREATE DATABASE "${seed}"`);
    const seedClient = new pg.Client({ host: pgHost, port: Number(pgPort), user: pgUser, database: seed });
    await seedClient.connect();
    await seedClient.query(
      'CREATE TABLE items (id int primary key, name text); INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 200) g',
    );
    await seedClient.end();
    for (const name of names) await admin.query(`CREATE DATABASE "${dbPrefix}${name}" TEMPLATE "${seed}"`);

    // Every target on the same cron minute, far enough ahead for start-up and scheduler sync.
    const due = new Date(Math.ceil((Date.now() + 75_000) / 60_000) * 60_000);
    const schedule = `${due.getUTCMinutes()} ${due.getUTCHours()} * * *`;
    const configFile = path.join(work, 'targets.json');
    await writeFile(
      configFile,
      JSON.stringify({
        targets: names.map((name) => ({
          name,
          url: `postgres://${pgUser}@${pgHost}:${pgPort}/${dbPrefix}${name}`,
          schedule,
          timezone: 'UTC',
        })),
      }),
    );
    const apiPort = 20_000 + Math.floor(Math.random() * 5_000);
    const env = (extra: Record<string, string>): NodeJS.ProcessEnv => ({
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      WARDEN_CONFIG: configFile,
      REDIS_URL: redisUrl,
      QUEUE_PREFIX: queuePrefix,
      BACKUP_DIR: path.join(work, 'backups'),
      SLACK_WEBHOOK_URL: slack.url,
      PROBE_INTERVAL_SECONDS: String(PROBE_INTERVAL_SECONDS),
      RESTORE_VERIFY_ENABLED: 'false',
      WORKER_CONCURRENCY: String(workerConcurrency),
      LOG_LEVEL: 'info',
      PORT: String(apiPort),
      ...extra,
    });

    process.stderr.write(`[${count}] starting 1 API + ${WORKERS} workers; round at ${due.toISOString()}\n`);
    let peak = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const { rows } = await admin.query<{ n: string }>(
          'SELECT count(*) AS n FROM pg_stat_activity WHERE datname LIKE $1',
          [`${dbPrefix}%`],
        );
        peak = Math.max(peak, Number(rows[0]?.n ?? 0));
        await sleep(200);
      }
    })();

    for (let index = 0; index < WORKERS; index += 1) {
      processes.push(
        startProcess(
          'apps/worker/src/main.ts',
          env({
            BACKUP_SPOOL_DIR: path.join(work, `spool-${index}`),
            WORKER_METRICS_PORT: String(apiPort + 1 + index),
          }),
        ),
      );
    }
    const api = startProcess('apps/api/src/main.ts', env({ BACKUP_SPOOL_DIR: path.join(work, 'spool-api') }));
    processes.push(api);
    const listening = await waitForLine(api, /"msg":"api listening"/, 120_000);
    const startupS = (Date.now() - api.startedAt) / 1000;
    const synced = await waitForLine(api, /"msg":"job schedulers synchronised"/, 1_000);
    const firstLine = api.lines.find((line) => line.startsWith('{"level"')) ?? synced;
    const syncS = (Date.parse(JSON.parse(synced).time) - Date.parse(JSON.parse(firstLine).time)) / 1000;
    const url = `http://127.0.0.1:${new URL(String(JSON.parse(listening).address)).port}`;
    for (const worker of processes.slice(0, WORKERS))
      await waitForLine(worker, /"msg":"worker started"/, 60_000);

    const completedKey = `${queuePrefix}:backups:completed`;
    const failedKey = `${queuePrefix}:backups:failed`;
    while (Date.now() < due.getTime()) await sleep(500);
    process.stderr.write(`[${count}] round started\n`);
    let done = 0;
    const roundDeadline = Date.now() + 30 * 60_000;
    while (Date.now() < roundDeadline) {
      done = (await redis.zcard(completedKey)) + (await redis.zcard(failedKey));
      if (done >= count) break;
      await sleep(250);
    }
    const roundS = (Date.now() - due.getTime()) / 1000;
    process.stderr.write(`[${count}] round finished in ${roundS.toFixed(1)} s; letting alerts settle …\n`);
    // ALERT_RESOLVE_AFTER passing cycles, plus one, so recoveries are in the count.
    await sleep((3 + 1) * PROBE_INTERVAL_SECONDS * 1000 + 2_000);
    polling = false;
    await poller;
    const health = await timeHealth(url, 200);
    const perTarget = await backupsPerTarget(path.join(work, 'backups'), names);
    const spoolLeft = (
      await Promise.all(
        Array.from({ length: WORKERS }, (_, index) =>
          readdir(path.join(work, `spool-${index}`)).catch(() => [] as string[]),
        ),
      )
    ).flat().length;
    const row: Row = {
      targets: count,
      startupS,
      syncS,
      peakConnections: peak,
      healthP50: health.p50,
      healthP99: health.p99,
      healthStatus: `${health.status} (${health.code})`,
      falseConnectionFailures:
        health.falseFailures +
        slack.count.nonSuccess.filter((text) => text.includes('Database connection failed')).length,
      roundS,
      exactlyOne: [...perTarget.values()].every((n) => n === 1),
      spoolFilesLeft: spoolLeft,
      redisMb: (await redisBytes(redis, queuePrefix)) / 1024 / 1024,
      slackTotal: slack.count.total,
      slackSuccess: slack.count.success,
      slackOther: slack.count.nonSuccess,
    };
    const mean = [...perTarget.values()].filter((n) => n !== 1);
    if (mean.length > 0)
      process.stderr.write(`[${count}] targets without exactly one backup: ${mean.length}\n`);
    return row;
  } finally {
    await Promise.all(processes.map(stop));
    for (const name of [...names, 'seed']) {
      await admin.query(`DROP DATABASE IF EXISTS "${dbPrefix}${name}" WITH (FORCE)`).catch(() => undefined);
    }
    await admin.end();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${queuePrefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
    await redis.quit();
    await new Promise((resolve) => slack.server.close(resolve));
    await rm(work, { recursive: true, force: true });
  }
}

const rows: Row[] = [];
for (const size of sizes) {
  const row = await runFleet(size);
  rows.push(row);
  const slots = WORKERS * workerConcurrency;
  console.log(
    JSON.stringify({
      ...row,
      slots,
      secondsPerBackupPerSlot: Number(((row.roundS * slots) / row.targets).toFixed(3)),
    }),
  );
}

const slots = WORKERS * workerConcurrency;
console.log(
  '\n| targets | start-up s | scheduler sync s | peak PG connections | /health/detailed p50 / p99 ms | health after | round s | round ÷ (targets ÷ slots) s | exactly one backup each | spool files left | Redis MB | Slack total / success / other | false "connection failed" |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const row of rows) {
  console.log(
    `| ${row.targets} | ${row.startupS.toFixed(1)} | ${row.syncS.toFixed(2)} | ${row.peakConnections} | ${row.healthP50.toFixed(1)} / ${row.healthP99.toFixed(1)} | ${row.healthStatus} | ${row.roundS.toFixed(1)} | ${((row.roundS * slots) / row.targets).toFixed(2)} | ${row.exactlyOne ? 'yes' : 'NO'} | ${row.spoolFilesLeft} | ${row.redisMb.toFixed(2)} | ${row.slackTotal} / ${row.slackSuccess} / ${row.slackOther.length} | ${row.falseConnectionFailures} |`,
  );
}
for (const row of rows) {
  if (row.slackOther.length > 0)
    console.log(`\n${row.targets} targets, non-success Slack messages:\n- ${row.slackOther.join('\n- ')}`);
}
