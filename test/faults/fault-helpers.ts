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

/**
 * A throw-away PostgreSQL 15 cluster (trust auth, loopback, a free port), run as OS user postgres.
 * `settings` are server settings (`-c name=value`), e.g. a lock table small enough to exhaust.
 */
export async function startPrivatePostgres(
  options: { settings?: Record<string, string | number> } = {},
): Promise<PrivatePostgres> {
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
      [
        `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
        ...Object.entries(options.settings ?? {}).map(([name, value]) => `-c ${name}=${value}`),
      ].join(' '),
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
 * runs are plain pg_dump. With `delaySeconds` each run first waits that long instead. With `gateFile`
 * each run first waits until that file exists: the test decides when the dumps go on.
 */
export function createSlowPgDump(
  dir: string,
  options: { holdSeconds?: number; delaySeconds?: number; slowRuns?: number; gateFile?: string } = {},
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
      options.gateFile ? `while [ ! -e "${options.gateFile}" ]; do sleep 0.1; done` : '',
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

export interface PrivateRedisCluster {
  /** Every node's port, masters and replicas. */
  ports: number[];
  /** `host:port,…` for REDIS_CLUSTER_NODES. */
  nodeList: string;
  /** The master serving `key`'s hash slot and its replica, asked of a node that is still up. */
  slotOwner(key: string): Promise<{ master: number; replicas: number[] }>;
  /** SIGKILL one node; resolves once the process is gone. */
  kill(port: number): Promise<void>;
  /** Stops every node and deletes the data directory. */
  destroy(): Promise<void>;
}

/**
 * Ports for a cluster: each node's port and its bus port (port + 10000) free, all below the
 * kernel's ephemeral range. The band 17100-17119 (bus 27100-27119) is the fault tests' own.
 */
async function freeClusterPorts(count: number): Promise<number[]> {
  const isFree = (port: number) =>
    new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
  const ports: number[] = [];
  for (let port = 17_100; port < 17_120 && ports.length < count; port++) {
    if ((await isFree(port)) && (await isFree(port + 10_000))) ports.push(port);
  }
  if (ports.length < count)
    throw new Error(`only ${ports.length} of ${count} cluster ports free in 17100-17119`);
  return ports;
}

/**
 * A private Redis Cluster: three masters and a replica each (`redis-server --cluster-enabled yes`,
 * `redis-cli --cluster create --cluster-replicas 1`), with a short node timeout so that a replica
 * takes over a few seconds after its master dies.
 */
export async function startPrivateRedisCluster(
  options: { nodeTimeoutMs?: number } = {},
): Promise<PrivateRedisCluster> {
  const dir = await mkdtemp(path.join(tmpdir(), 'warden-fault-cluster-'));
  const ports = await freeClusterPorts(6);
  const children = new Map<number, ChildProcess>();
  const killNode = async (port: number) => {
    const child = children.get(port);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  };
  const destroy = async () => {
    for (const port of children.keys()) await killNode(port);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(
      ports.map(async (port) => {
        const child = spawn(
          'redis-server',
          [
            '--port',
            String(port),
            '--bind',
            '127.0.0.1',
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            `nodes-${port}.conf`,
            '--cluster-node-timeout',
            String(options.nodeTimeoutMs ?? 3_000),
            // A replica takes over however long ago it last heard from its master.
            '--cluster-replica-validity-factor',
            '0',
            '--dir',
            dir,
            '--dbfilename',
            `dump-${port}.rdb`,
            '--save',
            '',
            '--appendonly',
            'no',
          ],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        children.set(port, child);
        let output = '';
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`redis-server ${port} not ready: ${output}`)),
            15_000,
          );
          child.stdout?.on('data', (chunk: Buffer) => {
            output += chunk.toString();
            if (output.includes('Ready to accept connections')) {
              clearTimeout(timer);
              resolve();
            }
          });
          child.once('exit', (code) => {
            clearTimeout(timer);
            reject(new Error(`redis-server ${port} exited (${code}): ${output}`));
          });
        });
      }),
    );
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((port) => `127.0.0.1:${port}`),
      '--cluster-replicas',
      '1',
      '--cluster-yes',
    ]);
    // `--cluster create` returns once slots are assigned: every node must see the whole cluster,
    // and every replica must have synced with its master, before a failover can be relied on.
    const deadline = Date.now() + 60_000;
    for (const port of ports) {
      for (;;) {
        const info = (await run('redis-cli', ['-p', String(port), 'cluster', 'info'])).stdout;
        const nodes = (await run('redis-cli', ['-p', String(port), 'cluster', 'nodes'])).stdout;
        const replication = (await run('redis-cli', ['-p', String(port), 'info', 'replication'])).stdout;
        const slaves = nodes.split('\n').filter((line) => / (myself,)?slave /.test(line)).length;
        if (
          info.includes('cluster_state:ok') &&
          slaves === 3 &&
          (replication.includes('role:master') || replication.includes('master_link_status:up'))
        ) {
          break;
        }
        if (Date.now() > deadline) throw new Error(`cluster node ${port} not ready:\n${info}\n${nodes}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  } catch (error) {
    await destroy();
    throw error;
  }
  const alive = () =>
    ports.filter((port) => children.get(port)?.exitCode === null && !children.get(port)?.signalCode);
  return {
    ports,
    nodeList: ports.map((port) => `127.0.0.1:${port}`).join(','),
    async slotOwner(key) {
      const port = String(alive()[0]);
      const slot = Number((await run('redis-cli', ['-p', port, 'cluster', 'keyslot', key])).stdout.trim());
      // CLUSTER SHARDS would be nicer, but CLUSTER NODES is in every Redis 7 and easy to read:
      // `<id> <ip:port@bus> <flags> <master-id> … <slot ranges>`.
      const lines = (await run('redis-cli', ['-p', port, 'cluster', 'nodes'])).stdout.trim().split('\n');
      const nodes = lines.map((line) => {
        const fields = line.split(' ');
        return {
          id: fields[0] ?? '',
          port: Number((fields[1] ?? '').split(':')[1]?.split('@')[0]),
          flags: fields[2] ?? '',
          masterId: fields[3] ?? '',
          ranges: fields.slice(8),
        };
      });
      const master = nodes.find(
        (node) =>
          node.flags.includes('master') &&
          !node.flags.includes('fail') &&
          node.ranges.some((range) => {
            const [from, to] = range.split('-').map(Number);
            return from !== undefined && slot >= from && slot <= (to ?? from);
          }),
      );
      if (!master) throw new Error(`no live master serves slot ${slot}`);
      return {
        master: master.port,
        replicas: nodes.filter((node) => node.masterId === master.id).map((node) => node.port),
      };
    },
    kill: killNode,
    destroy,
  };
}
