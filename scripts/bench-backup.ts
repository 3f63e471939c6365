/**
 * `npm run bench:backup -- [--scale 10,50,200] [--runs N (3)] [--keep] [--fresh] [--gzip-level N]`
 *
 * Compares Warden's full backup (the real `backup:create` CLI process: preflight, dump, compress,
 * integrity check, upload to a local S3-protocol server, manifest) with the shell pipeline operators would
 * write, on the same database and the same store:
 *
 *   pg_dump db | gzip -6 > f && gzip -t f && aws s3 cp f s3://bucket/
 *
 * Scale N builds a database of about N MB of plain SQL (scale 200 ≈ 190 MB), with varied, realistic
 * rows (words drawn Zipf-like from a vocabulary, JSON documents, timestamps, amounts, random tokens)
 * rather than pgbench's all-alike filler. Databases are named `warden_bench_s<N>` and reused when a
 * previous run kept them (`--keep`) and their build signature matches; `--fresh` rebuilds them.
 *
 * For every scale it prints the dump size, the peer's and Warden's wall times and output sizes, the
 * ratios against the targets (time ≤ 0.4× on ≥ 150 MB of SQL, size ≤ 1.1×), and Warden's peak RSS
 * (VmHWM of the CLI process, polled from /proc). The same backups then run as jobs in the real
 * worker process, for its job time and its peak RSS during each job. Every Warden output is read back
 * from the store and checked with `gzip -t`.
 *
 * Environment: PGHOST (127.0.0.1), PGPORT (5432), PGUSER (postgres), AWS_CLI (`aws` on PATH).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import {
  buildDatabase,
  databaseIsReady,
  databaseName,
  mustRun,
  PG,
  psql,
  ROOT,
  type RunResult,
  run,
  SQL_BYTES_PER_SCALE,
} from './bench-dataset.js';

/** The issue sets the time target for databases of at least this much SQL; below it start-up dominates. */
const TIME_TARGET_MIN_SQL_MB = 150;
/**
 * Peak RSS may be this much higher in the second half of the largest backup than in its first and
 * still count as flat: a backup's buffers (three 5 MiB S3 parts, 1 MiB zlib chunks, a 1 MB young
 * generation) are full within its first second, after which nothing more should accumulate.
 */
const FLAT_RSS_GROWTH = 0.1;

// ---------------------------------------------------------------------------------------------
// Local S3-protocol store (s3rver in a child process, as the integration tests run it)

const S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
const BUCKET = 'bench';

interface S3Server {
  endpoint: string;
  dir: string;
  stop(): Promise<void>;
}

/** s3rver encrypts listing tokens with DES, which OpenSSL 3 offers only through the legacy provider. */
const S3RVER_CHILD = `
const S3rver = require(process.env.S3RVER_MODULE);
const server = new S3rver({ address: '127.0.0.1', port: 0, directory: process.env.S3RVER_DIR, silent: true,
  configureBuckets: [{ name: process.env.S3RVER_BUCKET }] });
server.run().then((address) => {
  process.stdout.write(JSON.stringify({ port: address.port }) + '\\n');
  process.stdin.resume();
  process.stdin.on('end', () => server.close().finally(() => process.exit(0)));
}, (error) => { process.stderr.write(String(error && error.stack || error) + '\\n'); process.exit(1); });
`;

async function startS3Server(): Promise<S3Server> {
  const dir = await mkdtemp(path.join(tmpdir(), 'warden-bench-s3-'));
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', S3RVER_CHILD], {
    env: {
      PATH: process.env.PATH ?? '',
      S3RVER_MODULE: createRequire(import.meta.url).resolve('s3rver'),
      S3RVER_DIR: dir,
      S3RVER_BUCKET: BUCKET,
    },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const [line] = (await Promise.race([
    once(lines, 'line'),
    once(child, 'exit').then(() => {
      throw new Error('s3rver exited before listening');
    }),
  ])) as [string];
  lines.close();
  const { port } = JSON.parse(line) as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    dir,
    async stop() {
      const exited = once(child, 'exit');
      child.stdin?.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The stored object as s3rver keeps it on disk (content only, next to its metadata files). */
function storedObjectPath(server: S3Server, key: string): string {
  return path.join(server.dir, BUCKET, `${key}._S3rver_object`);
}

// ---------------------------------------------------------------------------------------------
// The two contestants

interface PeerResult {
  totalMs: number;
  dumpGzipMs: number;
  testMs: number;
  uploadMs: number;
  bytes: number;
  uploader: string;
}

async function findAwsCli(): Promise<string | undefined> {
  const candidate = process.env.AWS_CLI ?? 'aws';
  const probe = await run(candidate, ['--version']).catch(() => undefined);
  return probe?.code === 0 ? candidate : undefined;
}

/**
 * `pg_dump db | gzip -6 > f && gzip -t f && aws s3 cp f s3://bucket/`, one step after the other as
 * the shell runs it; each step is timed and the total is their sum.
 */
async function runPeer(
  scale: number,
  server: S3Server,
  work: string,
  awsCli: string | undefined,
): Promise<PeerResult> {
  const file = path.join(work, `peer_s${scale}.sql.gz`);
  const dump = await mustRun('bash', [
    '-c',
    `set -o pipefail; pg_dump -h ${PG.host} -p ${PG.port} -U ${PG.user} ${databaseName(scale)} | gzip -6 > '${file}'`,
  ]);
  const test = await mustRun('gzip', ['-t', file]);
  const key = `peer/s${scale}.sql.gz`;
  let upload: RunResult;
  if (awsCli) {
    upload = await mustRun(
      awsCli,
      [
        '--endpoint-url',
        server.endpoint,
        's3',
        'cp',
        '--no-progress',
        '--only-show-errors',
        file,
        `s3://${BUCKET}/${key}`,
      ],
      {
        env: {
          ...process.env,
          AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
          AWS_DEFAULT_REGION: 'us-east-1',
        },
      },
    );
  } else {
    upload = await sdkUpload(server, key, file);
  }
  const bytes = (await stat(file)).size;
  await rm(file, { force: true });
  await rm(storedObjectPath(server, key), { force: true });
  return {
    totalMs: dump.ms + test.ms + upload.ms,
    dumpGzipMs: dump.ms,
    testMs: test.ms,
    uploadMs: upload.ms,
    bytes,
    uploader: awsCli ? `${awsCli} s3 cp` : 'AWS SDK multipart upload',
  };
}

/** The SDK equivalent of `aws s3 cp` when no CLI is installed. */
async function sdkUpload(server: S3Server, key: string, file: string): Promise<RunResult> {
  const started = performance.now();
  const { S3Client } = await import('@aws-sdk/client-s3');
  const { Upload } = await import('@aws-sdk/lib-storage');
  const { createReadStream } = await import('node:fs');
  const client = new S3Client({
    endpoint: server.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: S3_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  await new Upload({ client, params: { Bucket: BUCKET, Key: key, Body: createReadStream(file) } }).done();
  client.destroy();
  return { code: 0, stdout: '', stderr: '', ms: performance.now() - started };
}

interface WardenResult {
  ms: number;
  bytes: number;
  sqlBytes: number;
  peakRssKb: number;
  /** Peak RSS in the first and in the second half of the run. */
  rssHalvesKb: [number, number];
  gzipTestOk: boolean;
  filename: string;
}

interface RssSampler {
  /** Stops sampling; the kernel's high-water mark (VmHWM) seen, and the peak RSS of each half of the sampled time. */
  stop(): { peakKb: number; halvesKb: [number, number] };
}

/** Peak (VmHWM) and current (VmRSS) resident memory from /proc/PID/status, in kB; 0 once it is gone. */
async function readProcessMemory(pid: number | undefined): Promise<{ hwmKb: number; rssKb: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { hwmKb: kb('VmHWM'), rssKb: kb('VmRSS') };
}

/**
 * Polls /proc/PID/status every 20 ms. Peak RSS per half of the run shows whether memory grows while a
 * backup goes on (it would be higher in the second half) rather than only what it reached.
 */
function sampleRss(pid: number | undefined): RssSampler {
  const started = performance.now();
  const samples: { at: number; kb: number }[] = [];
  let highWaterKb = 0;
  const poll = setInterval(() => {
    void readProcessMemory(pid).then(({ hwmKb, rssKb }) => {
      highWaterKb = Math.max(highWaterKb, hwmKb);
      if (rssKb > 0) samples.push({ at: performance.now() - started, kb: rssKb });
    });
  }, 20);
  return {
    stop() {
      clearInterval(poll);
      const middle = (performance.now() - started) / 2;
      const peak = (inHalf: (at: number) => boolean) =>
        Math.max(0, ...samples.filter((sample) => inHalf(sample.at)).map((sample) => sample.kb));
      const halvesKb: [number, number] = [peak((at) => at < middle), peak((at) => at >= middle)];
      return { peakKb: Math.max(highWaterKb, ...halvesKb), halvesKb };
    },
  };
}

/** What Warden's processes get: the bench database, the local S3 store, the bench's own queue prefix. */
function wardenEnv(
  scale: number,
  server: S3Server,
  spoolDir: string,
  gzipLevel: number,
  queuePrefix: string,
): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? tmpdir(),
    DATABASE_URL: `postgres://${PG.user}@${PG.host}:${PG.port}/${databaseName(scale)}`,
    BACKUP_ENVIRONMENT: 'bench',
    BACKUP_S3_BUCKET: BUCKET,
    S3_ENDPOINT: server.endpoint,
    AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
    BACKUP_SPOOL_DIR: spoolDir,
    BACKUP_GZIP_LEVEL: String(gzipLevel),
    QUEUE_PREFIX: queuePrefix,
    LOG_LEVEL: 'warn',
    ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
  };
}

/** Warden's real `backup:create` process; its peak RSS is the kernel's high-water mark (VmHWM). */
async function runWarden(
  scale: number,
  server: S3Server,
  spoolDir: string,
  gzipLevel: number,
  queuePrefix: string,
): Promise<WardenResult> {
  const env = wardenEnv(scale, server, spoolDir, gzipLevel, queuePrefix);
  const started = performance.now();
  const child = spawn(
    process.execPath,
    ['--max-semi-space-size=1', 'scripts/run.mjs', 'apps/worker/src/cli/backup-create.ts'],
    {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const sampler = sampleRss(child.pid);
  const [code] = (await once(child, 'close')) as [number | null];
  const ms = performance.now() - started;
  const { peakKb: peakRssKb, halvesKb: rssHalvesKb } = sampler.stop();
  if (code !== 0) throw new Error(`backup:create exited with ${code}: ${stdout.trim()} ${stderr.trim()}`);
  const result = JSON.parse(stdout.trim().split('\n').pop() as string) as {
    key: string;
    bytes: number;
    filename: string;
  };
  return {
    ms,
    peakRssKb,
    rssHalvesKb,
    filename: result.filename,
    ...(await checkStored(server, result.key, result.bytes)),
  };
}

/** Reads back what the store holds, checks it the way an operator would, and removes it. */
async function checkStored(
  server: S3Server,
  key: string,
  reportedBytes: number,
): Promise<{ bytes: number; sqlBytes: number; gzipTestOk: boolean }> {
  const stored = storedObjectPath(server, key);
  const bytes = (await stat(stored)).size;
  const test = await run('gzip', ['-t', stored]);
  const sqlBytes = await gunzipBytes(stored);
  await rm(path.dirname(stored), { recursive: true, force: true });
  return { bytes, sqlBytes, gzipTestOk: test.code === 0 && bytes === reportedBytes };
}

interface WorkerRunResult {
  /** From the job's start to its end, as BullMQ recorded them (the worker was already running). */
  ms: number;
  /** The worker process's peak RSS during this job alone. */
  peakRssKb: number;
  /** Peak RSS in the first and in the second half of the job. */
  rssHalvesKb: [number, number];
  bytes: number;
  gzipTestOk: boolean;
}

interface BenchWorker {
  runBackup(): Promise<WorkerRunResult>;
  stop(): Promise<void>;
}

/**
 * The real worker process (`apps/worker/src/main.ts`) with backups queued through BullMQ, as the API
 * queues them. Before each job the kernel's high-water mark is reset (`/proc/PID/clear_refs`), so
 * the peak read afterwards belongs to that backup; where that is not allowed, RSS is polled instead.
 */
async function startWorker(
  scale: number,
  server: S3Server,
  spoolDir: string,
  gzipLevel: number,
  queuePrefix: string,
): Promise<BenchWorker> {
  const child = spawn(
    process.execPath,
    ['--max-semi-space-size=1', 'scripts/run.mjs', 'apps/worker/src/main.ts'],
    {
      cwd: ROOT,
      env: {
        ...wardenEnv(scale, server, spoolDir, gzipLevel, queuePrefix),
        LOG_LEVEL: 'info',
        WORKER_METRICS_PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8000);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = once(child, 'exit');
  const deadline = Date.now() + 60_000;
  while (!output.includes('"msg":"worker started"')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the worker did not start: ${output.slice(-2000)}`);
    }
    await delay(50);
  }

  const { Queue } = await import('bullmq');
  const queue = new Queue('backups', {
    prefix: queuePrefix,
    connection: { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', maxRetriesPerRequest: null },
  });
  let jobs = 0;

  return {
    async runBackup() {
      let canReset = true;
      await writeFile(`/proc/${child.pid}/clear_refs`, '5').catch(() => {
        canReset = false;
      });
      const sampler = sampleRss(child.pid);
      let sampled: ReturnType<RssSampler['stop']> | undefined;
      try {
        const job = await queue.add(
          'backup.create',
          { target: databaseName(scale), trigger: 'api' },
          {
            jobId: `bench-${scale}-${++jobs}`,
          },
        );
        for (;;) {
          const state = await queue.getJobState(job.id as string);
          if (state === 'failed') {
            const failed = await queue.getJob(job.id as string);
            throw new Error(`the worker's backup failed: ${failed?.failedReason ?? 'unknown reason'}`);
          }
          if (state === 'completed') break;
          if (child.exitCode !== null) throw new Error(`the worker exited: ${output.slice(-2000)}`);
          await delay(20);
        }
        sampled = sampler.stop();
        const done = await queue.getJob(job.id as string);
        const result = done?.returnvalue as { key: string; bytes: number };
        // VmHWM also counts what was idle before this job when the reset was refused.
        const peakRssKb = canReset
          ? (await readProcessMemory(child.pid)).hwmKb
          : Math.max(...sampled.halvesKb);
        const ms = (done?.finishedOn ?? 0) - (done?.processedOn ?? 0);
        return {
          ms,
          peakRssKb,
          rssHalvesKb: sampled.halvesKb,
          ...(await checkStored(server, result.key, result.bytes)),
        };
      } finally {
        if (!sampled) sampler.stop();
      }
    },
    async stop() {
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function gunzipBytes(file: string): Promise<number> {
  const child = spawn('gzip', ['-dc', file], { stdio: ['ignore', 'pipe', 'ignore'] });
  let bytes = 0;
  child.stdout.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
  });
  await once(child, 'close');
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// Main

interface Flags {
  scales: number[];
  runs: number;
  keep: boolean;
  fresh: boolean;
  gzipLevel: number;
}

function parseArgs(argv: string[]): Flags {
  const flags: Flags = { scales: [10, 50, 200], runs: 3, keep: false, fresh: false, gzipLevel: 3 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const [name, inline] = arg.includes('=') ? (arg.split('=', 2) as [string, string]) : [arg, undefined];
    const value = () => inline ?? (argv[++i] as string);
    if (name === '--scale' || name === '--scales')
      flags.scales = value()
        .split(',')
        .map((part) => Number(part.trim()));
    else if (name === '--runs') flags.runs = Number(value());
    else if (name === '--gzip-level') flags.gzipLevel = Number(value());
    else if (name === '--keep') flags.keep = true;
    else if (name === '--fresh') flags.fresh = true;
    else throw new Error(`unknown argument ${arg}`);
  }
  if (flags.scales.some((scale) => !Number.isInteger(scale) || scale < 1 || scale > 2000)) {
    throw new Error('--scale takes integers from 1 to 2000, e.g. --scale 10,50,200');
  }
  if (!Number.isInteger(flags.runs) || flags.runs < 1) throw new Error('--runs takes a positive integer');
  return flags;
}

interface MemoryFigures {
  peakRssKb: number;
  rssHalvesKb: [number, number];
}

function worstMemory(kept: MemoryFigures | undefined, next: MemoryFigures): MemoryFigures {
  if (!kept) return { peakRssKb: next.peakRssKb, rssHalvesKb: next.rssHalvesKb };
  return {
    peakRssKb: Math.max(kept.peakRssKb, next.peakRssKb),
    rssHalvesKb: [
      Math.max(kept.rssHalvesKb[0], next.rssHalvesKb[0]),
      Math.max(kept.rssHalvesKb[1], next.rssHalvesKb[1]),
    ],
  };
}

const formatRss = (figures: MemoryFigures) =>
  `${Math.round(figures.peakRssKb / 1024)} MB (halves ${figures.rssHalvesKb.map((kb) => Math.round(kb / 1024)).join('/')})`;

const mb = (bytes: number) => (bytes / (1024 * 1024)).toFixed(1);
const sec = (ms: number) => (ms / 1000).toFixed(2);

async function main(): Promise<void> {
  const flags = parseArgs(process.argv.slice(2));
  const work = await mkdtemp(path.join(tmpdir(), 'warden-bench-backup-'));
  const spoolDir = path.join(work, 'spool');
  const queuePrefix = `warden-bench-backup-${process.pid}`;
  const awsCli = await findAwsCli();
  const server = await startS3Server();
  // run.mjs builds a bundle on the first start after a change (about a second); a deployed Warden
  // has built it long before its backups run, so no timed run pays for it. (`--help` only builds and
  // prints the usage; the worker's timing starts with its job, after its own start.)
  await run(process.execPath, ['scripts/run.mjs', 'apps/worker/src/cli/backup-create.ts', '--help']);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const rows: {
    scale: number;
    sqlBytes: number;
    dbBytes: number;
    peer: PeerResult;
    warden: WardenResult;
    wardenRuns: number[];
    peerRuns: number[];
    worker: WorkerRunResult;
  }[] = [];
  try {
    for (const scale of flags.scales) {
      if (flags.fresh || !(await databaseIsReady(scale))) {
        log(
          `building ${databaseName(scale)} (~${Math.round((scale * SQL_BYTES_PER_SCALE) / 1048576)} MB of SQL)…`,
        );
        const ms = await buildDatabase(scale);
        log(`  built in ${sec(ms)} s`);
      } else {
        log(`reusing ${databaseName(scale)}`);
      }
      const dbBytes = Number(await psql('postgres', `SELECT pg_database_size('${databaseName(scale)}')`));
      let peer: PeerResult | undefined;
      let warden: WardenResult | undefined;
      const peerRuns: number[] = [];
      const wardenRuns: number[] = [];
      // Interleaved, best of N: other load on the machine hits both alike and the minimum is the
      // least disturbed run of each.
      for (let runIndex = 0; runIndex < flags.runs; runIndex++) {
        const p = await runPeer(scale, server, work, awsCli);
        peerRuns.push(p.totalMs);
        if (!peer || p.totalMs < peer.totalMs) peer = p;
        const w = await runWarden(scale, server, spoolDir, flags.gzipLevel, queuePrefix);
        wardenRuns.push(w.ms);
        // Time: the best run. Memory: the worst of all runs.
        warden = {
          ...(warden && warden.ms <= w.ms ? warden : w),
          ...worstMemory(warden, w),
          gzipTestOk: w.gzipTestOk && (warden?.gzipTestOk ?? true),
        };
        log(
          `  s${scale} run ${runIndex + 1}: peer ${sec(p.totalMs)} s, Warden ${sec(w.ms)} s, RSS ${formatRss(w)}`,
        );
      }
      // The same backups through the long-running worker: no process start, and its memory is the
      // figure that matters in production.
      const benchWorker = await startWorker(scale, server, spoolDir, flags.gzipLevel, queuePrefix);
      let worker: WorkerRunResult | undefined;
      try {
        for (let runIndex = 0; runIndex < flags.runs; runIndex++) {
          const w = await benchWorker.runBackup();
          log(`  s${scale} worker run ${runIndex + 1}: ${sec(w.ms)} s, RSS ${formatRss(w)}`);
          worker = {
            ...(worker && worker.ms <= w.ms ? worker : w),
            ...worstMemory(worker, w),
            gzipTestOk: w.gzipTestOk && (worker?.gzipTestOk ?? true),
          };
        }
      } finally {
        await benchWorker.stop();
      }
      rows.push({
        scale,
        sqlBytes: (warden as WardenResult).sqlBytes,
        dbBytes,
        peer: peer as PeerResult,
        warden: warden as WardenResult,
        peerRuns,
        wardenRuns,
        worker: worker as WorkerRunResult,
      });
    }
  } finally {
    await server.stop();
    await rm(work, { recursive: true, force: true });
    if (!flags.keep) {
      for (const scale of flags.scales)
        await psql('postgres', `DROP DATABASE IF EXISTS ${databaseName(scale)} WITH (FORCE)`);
    }
  }

  const peer0 = rows[0]?.peer;
  console.log('');
  console.log(
    `Backup benchmark: ${cpuCount()} cores, Warden via backup:create with BACKUP_GZIP_LEVEL=${flags.gzipLevel}, best of ${flags.runs} interleaved runs`,
  );
  console.log(
    `Peer: pg_dump | gzip -6 > f && gzip -t f && ${peer0?.uploader ?? 'aws s3 cp'} (local s3rver, same bucket)`,
  );
  console.log('');
  const header = [
    'scale',
    'dump SQL',
    'db size',
    'peer s (dump+gz/test/up)',
    'Warden s',
    'ratio',
    'peer .gz',
    'Warden .gz',
    'size ratio',
    'Warden RSS',
    'worker s',
    'worker RSS',
    'gzip -t',
  ];
  const table = rows.map((row) => [
    String(row.scale),
    `${mb(row.sqlBytes)} MB`,
    `${mb(row.dbBytes)} MB`,
    `${sec(row.peer.totalMs)} (${sec(row.peer.dumpGzipMs)}/${sec(row.peer.testMs)}/${sec(row.peer.uploadMs)})`,
    sec(row.warden.ms),
    `${(row.warden.ms / row.peer.totalMs).toFixed(2)}x`,
    `${mb(row.peer.bytes)} MB`,
    `${mb(row.warden.bytes)} MB`,
    `${(row.warden.bytes / row.peer.bytes).toFixed(3)}x`,
    `${Math.round(row.warden.peakRssKb / 1024)} MB`,
    sec(row.worker.ms),
    `${Math.round(row.worker.peakRssKb / 1024)} MB`,
    row.warden.gzipTestOk && row.worker.gzipTestOk ? 'ok' : 'FAILED',
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...table.map((cells) => (cells[column] as string).length)),
  );
  const format = (cells: string[]) =>
    cells.map((cell, column) => cell.padStart(widths[column] as number)).join('  ');
  console.log(format(header));
  for (const cells of table) console.log(format(cells));
  console.log('');
  console.log('Linearity (seconds per 100 MB of SQL; slope between consecutive scales):');
  rows.forEach((row, index) => {
    const per = (ms: number) => ((ms / row.sqlBytes) * 100 * 1048576) / 1000;
    let slope = '';
    const previous = rows[index - 1];
    if (previous) {
      const perMb = (a: number, b: number) =>
        (((a - b) / (row.sqlBytes - previous.sqlBytes)) * 100 * 1048576) / 1000;
      slope = `   slope from s${previous.scale}: peer ${perMb(row.peer.totalMs, previous.peer.totalMs).toFixed(2)} s, Warden ${perMb(row.warden.ms, previous.warden.ms).toFixed(2)} s per 100 MB`;
    }
    console.log(
      `  s${row.scale}: peer ${per(row.peer.totalMs).toFixed(2)} s, Warden ${per(row.warden.ms).toFixed(2)} s${slope}`,
    );
  });
  console.log('');
  const rssMb = (kb: number) => Math.round(kb / 1024);
  console.log('');
  console.log(
    `Targets: time ratio <= 0.40 (on >= ${TIME_TARGET_MIN_SQL_MB} MB of SQL), size ratio <= 1.10, peak RSS < 200 MB and flat across sizes (CLI and worker), gzip -t ok.`,
  );
  for (const row of rows) {
    const timed = row.sqlBytes >= TIME_TARGET_MIN_SQL_MB * 1048576;
    const misses = [
      timed && row.warden.ms / row.peer.totalMs > 0.4 ? 'time' : '',
      row.warden.bytes / row.peer.bytes > 1.1 ? 'size' : '',
      row.warden.peakRssKb >= 200 * 1024 ? 'CLI rss' : '',
      row.worker.peakRssKb >= 200 * 1024 ? 'worker rss' : '',
      row.warden.gzipTestOk && row.worker.gzipTestOk ? '' : 'gzip -t',
    ].filter(Boolean);
    const note = timed ? '' : ` (time target n/a below ${TIME_TARGET_MIN_SQL_MB} MB)`;
    console.log(
      `  s${row.scale}: ${misses.length === 0 ? 'all met' : `missed: ${misses.join(', ')}`}${note}   (runs: peer ${row.peerRuns.map(sec).join(' ')}; Warden ${row.wardenRuns.map(sec).join(' ')})`,
    );
  }
  // Memory that grew with the size of the dump would be higher in the second half of the largest
  // backup than in its first; every size's peak is printed beside it.
  const largest = rows.at(-1);
  if (largest) {
    const growth = (figures: MemoryFigures) => figures.rssHalvesKb[1] / figures.rssHalvesKb[0] - 1;
    const percent = (value: number) => `${value >= 0 ? '+' : ''}${(value * 100).toFixed(0)} %`;
    const flat = Math.max(growth(largest.warden), growth(largest.worker)) <= FLAT_RSS_GROWTH;
    console.log(
      `  RSS by size: CLI ${rows.map((row) => rssMb(row.warden.peakRssKb)).join(' / ')} MB, worker ${rows.map((row) => rssMb(row.worker.peakRssKb)).join(' / ')} MB. s${largest.scale}, peak in the 2nd half vs the 1st: CLI ${percent(growth(largest.warden))}, worker ${percent(growth(largest.worker))}: ${flat ? 'flat' : 'NOT flat'} (flat: at most ${percent(FLAT_RSS_GROWTH)})`,
    );
  }
}

function cpuCount(): number {
  return availableParallelism();
}

await main();
