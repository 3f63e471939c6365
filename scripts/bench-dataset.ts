/**
 * The benches' data set: databases of about N MB of plain SQL per scale N, with varied, realistic
 * rows (words drawn Zipf-like from a vocabulary, JSON documents, timestamps, amounts, random tokens),
 * built deterministically and reused while their build signature matches; plus the small process
 * helpers the benches share.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const PG = {
  host: process.env.PGHOST ?? '127.0.0.1',
  port: process.env.PGPORT ?? '5432',
  user: process.env.PGUSER ?? 'postgres',
};
/** Bump when the generated data changes: kept databases with another signature are rebuilt. */
export const BUILD_SIGNATURE = 'v1';
/** Plain-SQL bytes per scale unit. */
export const SQL_BYTES_PER_SCALE = 0.95 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Deterministic, varied data

/** mulberry32: small, fast, seedable; the data is the same on every build of a scale. */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SYLLABLES = [
  'ka',
  'lo',
  'mi',
  'ne',
  'ra',
  'to',
  'su',
  'vi',
  'el',
  'an',
  'or',
  'ing',
  'tion',
  'ber',
  'st',
  'qu',
  'ar',
  'en',
  'is',
  'um',
  'pre',
  'con',
  'ex',
  'al',
  'ly',
  'de',
  'ro',
  'ma',
  'ti',
  'pa',
  'sh',
  'ch',
  'ow',
  'ea',
  'ou',
  'ze',
  'fa',
  'go',
  'hu',
  'wi',
  'yo',
  'bri',
  'cla',
  'dro',
  'ple',
];
const STATUSES = ['pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded'];
const KINDS = ['page_view', 'click', 'login', 'logout', 'search', 'add_to_cart', 'checkout', 'error'];
const AGENTS = [
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148',
  'curl/8.8.0',
  'okhttp/4.12.0',
];

interface DataGenerator {
  random: () => number;
  word: () => string;
  words: (min: number, max: number) => string;
  hex: (length: number) => string;
  timestamp: () => string;
}

export function createGenerator(seed: number): DataGenerator {
  const random = createRandom(seed);
  const vocabulary: string[] = [];
  for (let i = 0; i < 6000; i++) {
    let word = '';
    const parts = 1 + Math.floor(random() * 4);
    for (let p = 0; p < parts; p++) word += SYLLABLES[Math.floor(random() * SYLLABLES.length)];
    vocabulary.push(word);
  }
  // Zipf-like: a few words are everywhere, most are rare, as in real text.
  const word = () => vocabulary[Math.floor(vocabulary.length * random() ** 3)] as string;
  const start = Date.UTC(2022, 0, 1);
  const span = 3 * 365 * 24 * 3600 * 1000;
  return {
    random,
    word,
    words(min, max) {
      const count = min + Math.floor(random() * (max - min + 1));
      const out: string[] = [];
      for (let i = 0; i < count; i++) out.push(word());
      return out.join(' ');
    },
    hex(length) {
      let out = '';
      while (out.length < length)
        out += Math.floor(random() * 0x100000000)
          .toString(16)
          .padStart(8, '0');
      return out.slice(0, length);
    },
    timestamp() {
      const at = new Date(start + Math.floor(random() * span));
      const micros = String(Math.floor(random() * 1_000_000)).padStart(6, '0');
      return `${at.toISOString().slice(0, 19).replace('T', ' ')}.${micros}+00`;
    },
  };
}

const SCHEMA_SQL = `
CREATE TABLE customers (
  id integer PRIMARY KEY, name text NOT NULL, email text NOT NULL, city text,
  created_at timestamptz NOT NULL, balance numeric(12,2) NOT NULL, tags text[]
);
CREATE TABLE orders (
  id bigint PRIMARY KEY, customer_id integer NOT NULL REFERENCES customers, created_at timestamptz NOT NULL,
  status text NOT NULL, amount numeric(10,2) NOT NULL, currency char(3) NOT NULL, items jsonb NOT NULL, note text
);
CREATE INDEX orders_customer_idx ON orders (customer_id);
CREATE TABLE events (
  id bigint PRIMARY KEY, occurred_at timestamptz NOT NULL, kind text NOT NULL, customer_id integer,
  ip inet NOT NULL, user_agent text NOT NULL, session char(32) NOT NULL, payload jsonb NOT NULL
);
CREATE TABLE bench_meta (signature text NOT NULL, scale integer NOT NULL, sql_bytes bigint NOT NULL);
`;

export function copyText(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n');
}

/** Rows of one table as COPY text; each table gets its share of the scale's SQL bytes. */
export function* tableRows(
  table: 'customers' | 'orders' | 'events',
  scale: number,
  gen: DataGenerator,
): Generator<string> {
  const share = { customers: 0.06, orders: 0.56, events: 0.38 }[table];
  const budget = scale * SQL_BYTES_PER_SCALE * share;
  const customers = Math.max(100, Math.round((scale * SQL_BYTES_PER_SCALE * 0.06) / 120));
  let bytes = 0;
  for (let id = 1; bytes < budget; id++) {
    let row: string;
    if (table === 'customers') {
      const name = `${capital(gen.word())} ${capital(gen.word())}`;
      const email = `${gen.word()}.${gen.word()}${Math.floor(gen.random() * 100)}@${gen.word()}.example`;
      const tags = `{${gen.words(0, 4).split(' ').filter(Boolean).join(',')}}`;
      row = [
        id,
        name,
        email,
        capital(gen.word()),
        gen.timestamp(),
        (gen.random() * 5000).toFixed(2),
        tags,
      ].join('\t');
    } else if (table === 'orders') {
      const items = [];
      for (let i = 0, n = 1 + Math.floor(gen.random() * 4); i < n; i++) {
        items.push({
          sku: `SKU-${Math.floor(gen.random() * 90000) + 10000}`,
          name: gen.words(1, 3),
          qty: 1 + Math.floor(gen.random() * 5),
          price: Math.round(gen.random() * 20000) / 100,
        });
      }
      const note = gen.random() < 0.3 ? '\\N' : copyText(gen.words(3, 25));
      row = [
        id,
        1 + Math.floor(gen.random() * customers),
        gen.timestamp(),
        STATUSES[Math.floor(gen.random() * STATUSES.length)],
        (gen.random() * 1000).toFixed(2),
        gen.random() < 0.8 ? 'EUR' : 'USD',
        copyText(JSON.stringify(items)),
        note,
      ].join('\t');
    } else {
      const kind = KINDS[Math.floor(gen.random() * KINDS.length)] as string;
      const payload = {
        path: `/${gen.word()}/${gen.word()}`,
        ms: Math.round(gen.random() * 2000),
        ref: gen.hex(16),
        ...(kind === 'search' ? { q: gen.words(1, 5) } : {}),
        ...(kind === 'error'
          ? { message: gen.words(4, 12), code: 400 + Math.floor(gen.random() * 104) }
          : {}),
      };
      const ip = `10.${Math.floor(gen.random() * 256)}.${Math.floor(gen.random() * 256)}.${Math.floor(gen.random() * 256)}`;
      row = [
        id,
        gen.timestamp(),
        kind,
        gen.random() < 0.2 ? '\\N' : 1 + Math.floor(gen.random() * customers),
        ip,
        AGENTS[Math.floor(gen.random() * AGENTS.length)],
        gen.hex(32),
        copyText(JSON.stringify(payload)),
      ].join('\t');
    }
    bytes += row.length + 1;
    yield `${row}\n`;
  }
}

export function capital(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

// ---------------------------------------------------------------------------------------------
// Processes

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export function run(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: Iterable<string>; cwd?: string } = {},
): Promise<RunResult> {
  const started = performance.now();
  const child = spawn(command, args, {
    env: options.env ?? process.env,
    cwd: options.cwd ?? ROOT,
    stdio: [options.input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-8000);
  });
  const done = new Promise<RunResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: performance.now() - started }));
  });
  if (options.input && child.stdin) void feed(child.stdin, options.input);
  return done;
}

export async function feed(stdin: NodeJS.WritableStream, input: Iterable<string>): Promise<void> {
  let batch = '';
  for (const line of input) {
    batch += line;
    if (batch.length >= 256 * 1024) {
      if (!stdin.write(batch)) await once(stdin, 'drain');
      batch = '';
    }
  }
  stdin.end(batch);
}

export async function mustRun(
  command: string,
  args: string[],
  options: Parameters<typeof run>[2] = {},
): Promise<RunResult> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited with ${result.code}: ${result.stderr.trim()}`);
  }
  return result;
}

export function psqlArgs(database: string, sql: string): string[] {
  return [
    '-h',
    PG.host,
    '-p',
    PG.port,
    '-U',
    PG.user,
    '-d',
    database,
    '-X',
    '-q',
    '-At',
    '-v',
    'ON_ERROR_STOP=1',
    '-c',
    sql,
  ];
}

export async function psql(database: string, sql: string): Promise<string> {
  return (await mustRun('psql', psqlArgs(database, sql))).stdout.trim();
}

// ---------------------------------------------------------------------------------------------
// Databases

/** `BENCH_DATABASE_PREFIX` lets benches on a shared server keep to their own names. */
export const DATABASE_PREFIX = process.env.BENCH_DATABASE_PREFIX ?? 'warden_bench';

export function databaseName(scale: number): string {
  return `${DATABASE_PREFIX}_s${scale}`;
}

export async function databaseIsReady(scale: number): Promise<boolean> {
  const name = databaseName(scale);
  const exists = await psql('postgres', `SELECT 1 FROM pg_database WHERE datname = '${name}'`);
  if (exists !== '1') return false;
  const meta = await run('psql', psqlArgs(name, 'SELECT signature, scale FROM bench_meta'));
  return meta.code === 0 && meta.stdout.trim() === `${BUILD_SIGNATURE}|${scale}`;
}

export async function buildDatabase(scale: number): Promise<number> {
  const name = databaseName(scale);
  const started = performance.now();
  await psql('postgres', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await psql('postgres', `CREATE DATABASE ${name}`);
  await psql(name, SCHEMA_SQL);
  // One generator per table, each seeded by scale and table, so a rebuild is byte-for-byte the same.
  const tables = ['customers', 'orders', 'events'] as const;
  await Promise.all(
    tables.map((table, index) =>
      mustRun('psql', psqlArgs(name, `COPY ${table} FROM STDIN`), {
        input: tableRows(table, scale, createGenerator(scale * 10 + index)),
      }),
    ),
  );
  await psql(name, 'VACUUM ANALYZE');
  const sqlBytes = await dumpBytes(name);
  await psql(name, `INSERT INTO bench_meta VALUES ('${BUILD_SIGNATURE}', ${scale}, ${sqlBytes})`);
  return performance.now() - started;
}

/** Size of `pg_dump`'s plain SQL for the database (issue 3's "dump size"), and the time it takes. */
export async function dumpBytes(database: string): Promise<number> {
  const child = spawn('pg_dump', ['-h', PG.host, '-p', PG.port, '-U', PG.user, '--format=plain', database], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let bytes = 0;
  child.stdout.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
  });
  const [code] = (await once(child, 'close')) as [number];
  if (code !== 0) throw new Error(`pg_dump of ${database} exited with ${code}`);
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// Timing

/** CPU milliseconds of this process and of its waited-for children so far. */
export async function cpuMs(): Promise<number> {
  const own = process.cpuUsage();
  // Fields after the command name; cutime and cstime are the 16th and 17th of the whole line.
  const stat = await readFile('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[13]) + Number(fields[14]);
  // USER_HZ is 100 on every Linux build PostgreSQL ships for.
  return (own.user + own.system) / 1000 + ticks * 10;
}

/**
 * CPU milliseconds every process on the machine has used so far (/proc/stat: all but idle and
 * iowait), the database server's included; other load on the machine counts too.
 */
export async function machineCpuMs(): Promise<number> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) * 10;
}

export interface Measured {
  ms: number;
  cpuMs: number;
  /** The whole machine's CPU time meanwhile (see {@link machineCpuMs}). */
  machineCpuMs: number;
}

export async function measure(fn: () => Promise<unknown>): Promise<Measured> {
  const cpuBefore = await cpuMs();
  const machineBefore = await machineCpuMs();
  const started = performance.now();
  await fn();
  const ms = performance.now() - started;
  return {
    ms,
    cpuMs: (await cpuMs()) - cpuBefore,
    machineCpuMs: (await machineCpuMs()) - machineBefore,
  };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}
