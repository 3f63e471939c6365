/**
 * Private services and fault tools for the fault tests. The shared Redis (6379) and PostgreSQL
 * (5432) are never stopped: a test that needs to stop one starts its own on a free port.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const PG_BIN = '/usr/lib/postgresql/15/bin';

/** A TCP port nobody listens on right now. */
/**
 * A free loopback port below the kernel's ephemeral range (32768+ on Linux): a port the OS hands out
 * for `listen(0)` can be taken by any outgoing connection before the private server binds it.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const server = createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (bound) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      return port;
    }
  }
  throw new Error('no free port between 20000 and 32000');
}

export interface PrivateRedis {
  url: string;
  port: number;
  dir: string;
  /** SIGTERM, as `docker compose restart redis` does; resolves once the process is gone. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data directory (the append-only file is replayed). */
  start(): Promise<void>;
  /** Stops it and deletes its data directory. */
  destroy(): Promise<void>;
}

/** A `redis-server` of our own, with persistence as docker-compose configures it. */
export async function startPrivateRedis(options: { appendOnly?: boolean } = {}): Promise<PrivateRedis> {
  const dir = await mkdtemp(path.join(tmpdir(), 'warden-fault-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    const proc = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--appendonly',
        options.appendOnly === false ? 'no' : 'yes',
        '--appendfsync',
        'always',
        '--save',
        '',
        '--daemonize',
        'no',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = proc;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${output}`)), 15_000);
      proc.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited (${code}): ${output}`));
      });
    });
  };
  const stop = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, 'exit');
    proc.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    stop,
    start,
    async destroy() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface PrivatePostgres {
  port: number;
  url(database: string): string;
  /** `pg_ctl stop -m fast`: connections are cut, new ones refused. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Runs SQL as the superuser through psql (argument array, no shell). */
  sql(database: string, statement: string): Promise<string>;
  destroy(): Promise<void>;
}

async function asPostgres(command: string, args: string[]): Promise<string> {
  const { stdout } = await run('runuser', ['-u', 'postgres', '--', path.join(PG_BIN, command), ...args], {
    cwd: '/',
  });
  return stdout;
}

/** A throw-away PostgreSQL 15 cluster (trust auth, loopback, a free port), run as OS user postgres. */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const dir = await mkdtemp(path.join(tmpdir(), 'warden-fault-pg-'));
  await run('chown', ['postgres:postgres', dir]);
  const dataDir = path.join(dir, 'data');
  const port = await freePort();
  await asPostgres('initdb', ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const start = async () => {
    await asPostgres('pg_ctl', [
      '-D',
      dataDir,
      '-l',
      path.join(dir, 'server.log'),
      '-w',
      '-t',
      '30',
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
      'start',
    ]);
  };
  const stop = async () => {
    await asPostgres('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', 'stop']);
  };
  await start();
  return {
    port,
    url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    stop,
    start,
    async sql(database, statement) {
      const { stdout } = await run(
        'psql',
        [
          '-X',
          '-q',
          '-At',
          '-v',
          'ON_ERROR_STOP=1',
          '-h',
          '127.0.0.1',
          '-p',
          String(port),
          '-U',
          'postgres',
          '-d',
          database,
          '-c',
          statement,
        ],
        { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
      );
      return stdout.trim();
    },
    async destroy() {
      await asPostgres('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface SlowPgDump {
  /** Use as PG_DUMP_PATH. */
  path: string;
  /** Exists once the slow run has written its dump and is holding the pipeline open. */
  slowStartedFile: string;
  /** Number of real dumps started (the `--version` check is not counted). */
  runs(): number;
  /** Kills the processes the wrapper left behind (a killed worker orphans them). */
  cleanup(): Promise<void>;
}

/**
 * A PG_DUMP_PATH wrapper around the real pg_dump. The first `slowRuns` dumps write the whole dump
 * and then keep the process open for `holdSeconds` (the worker sees pg_dump still running); later
 * runs are plain pg_dump. With `delaySeconds` each run first waits that long instead.
 */
export function createSlowPgDump(
  dir: string,
  options: { holdSeconds?: number; delaySeconds?: number; slowRuns?: number } = {},
): SlowPgDump {
  const wrapper = path.join(dir, 'pg_dump_slow');
  const runsFile = path.join(dir, 'pg_dump_runs');
  const pidsFile = path.join(dir, 'pg_dump_pids');
  const slowStartedFile = path.join(dir, 'pg_dump_slow_started');
  const slowRuns = options.slowRuns ?? 1;
  writeFileSync(
    wrapper,
    [
      '#!/bin/sh',
      'if [ "$1" = "--version" ]; then exec pg_dump "$@"; fi',
      `echo run >> "${runsFile}"`,
      `echo $$ >> "${pidsFile}"`,
      options.delaySeconds ? `sleep ${options.delaySeconds}` : '',
      `if [ "$(wc -l < "${runsFile}")" -le ${slowRuns} ] && [ ${options.holdSeconds ?? 0} -gt 0 ]; then`,
      '  pg_dump "$@" || exit $?',
      `  touch "${slowStartedFile}"`,
      // exec keeps the recorded pid: the sleeping process is the one the worker waits for.
      `  exec sleep ${options.holdSeconds ?? 0}`,
      'fi',
      'exec pg_dump "$@"',
      '',
    ].join('\n'),
  );
  chmodSync(wrapper, 0o755);
  return {
    path: wrapper,
    slowStartedFile,
    runs: () => (existsSync(runsFile) ? readFileSync(runsFile, 'utf8').trim().split('\n').length : 0),
    async cleanup() {
      if (!existsSync(pidsFile)) return;
      for (const pid of readFileSync(pidsFile, 'utf8').trim().split('\n').map(Number)) {
        if (!Number.isInteger(pid) || pid <= 1) continue;
        // Only our wrapper's processes: check the command line before signalling the pid.
        try {
          const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
          if (cmdline.includes('pg_dump') || cmdline.startsWith('sleep')) process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    },
  };
}

/** A TCP server that accepts connections and never answers: a firewalled or hung endpoint. */
export async function startBlackhole(): Promise<{
  port: number;
  connections: number;
  close(): Promise<void>;
}> {
  const sockets = new Set<Socket>();
  const state = { connections: 0 };
  const server: Server = createServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    get connections() {
      return state.connections;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Every file under `dir`, as paths relative to it (empty when the directory does not exist). */
export async function listFilesRecursive(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

/** Parsed pino lines of a process's output (non-JSON lines skipped). */
export function jsonLines(lines: readonly string[]): Record<string, unknown>[] {
  const parsed: Record<string, unknown>[] = [];
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    try {
      parsed.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // Not a log line.
    }
  }
  return parsed;
}
