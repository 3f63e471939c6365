/**
 * Redis through Sentinel: a private master, a replica and one sentinel (redis-server
 * --sentinel) on free ports. A worker configured with REDIS_SENTINELS runs a backup, the master is
 * killed, the sentinel promotes the replica, and the same worker runs the next backup against it.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRedisConnection, JOB_NAMES, QUEUE_NAMES, type RedisConnection } from '@warden/queue';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/pg-fixtures.js';
import {
  startWardenProcess,
  testEnv,
  type WardenProcess,
  waitFor,
  waitForJobEnd,
} from '../helpers/processes.js';
import { freePort } from './fault-helpers.js';

/** Sentinel mode is part of redis-server; without the binary there is nothing to test against. */
const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0;

const MASTER_NAME = 'warden-master';
const queuePrefix = 'warden-fault-sentinel';

let workDir: string;
let database: TestDatabase;
const servers: ChildProcess[] = [];
let masterPort: number;
let replicaPort: number;
let sentinelPort: number;
let connection: RedisConnection;
let queue: Queue;
let worker: WardenProcess | undefined;

/** Starts a redis-server with the given arguments and waits for `ready` in its output. */
async function startRedis(args: string[], ready: RegExp): Promise<ChildProcess> {
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  servers.push(child);
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server ${args[0]} not ready: ${output}`)), 15_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (ready.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code}): ${output}`));
    });
  });
  return child;
}

async function sentinelMaster(): Promise<number> {
  const sentinel = new Redis({ host: '127.0.0.1', port: sentinelPort, lazyConnect: true });
  sentinel.on('error', () => undefined);
  try {
    await sentinel.connect();
    const [, port] = (await sentinel.call('SENTINEL', 'get-master-addr-by-name', MASTER_NAME)) as string[];
    return Number(port);
  } finally {
    sentinel.disconnect();
  }
}

beforeAll(async () => {
  if (!hasRedisServer) return;
  workDir = await mkdtemp(path.join(tmpdir(), 'warden-fault-sentinel-'));
  database = await createTestDatabase({ prefix: 'warden_fault_sentinel', seed: { orders: 500 } });
  masterPort = await freePort();
  replicaPort = await freePort();
  sentinelPort = await freePort();
  const common = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', workDir];
  const master = await startRedis(['--port', String(masterPort), ...common], /Ready to accept connections/);
  await startRedis(
    ['--port', String(replicaPort), ...common, '--replicaof', '127.0.0.1', String(masterPort)],
    /MASTER <-> REPLICA sync: Finished with success/,
  );
  const sentinelConf = path.join(workDir, 'sentinel.conf');
  writeFileSync(
    sentinelConf,
    [
      `port ${sentinelPort}`,
      'bind 127.0.0.1',
      `dir ${workDir}`,
      `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${masterPort} 1`,
      `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
      `sentinel failover-timeout ${MASTER_NAME} 5000`,
      '',
    ].join('\n'),
  );
  await startRedis([sentinelConf, '--sentinel'], /\+monitor master/);
  expect(master.exitCode).toBeNull();
  connection = createRedisConnection({
    url: 'redis://127.0.0.1:6379',
    sentinels: [{ host: '127.0.0.1', port: sentinelPort }],
    sentinelName: MASTER_NAME,
    role: 'worker',
  });
  connection.on('error', () => undefined);
  queue = new Queue(QUEUE_NAMES.backups, { connection, prefix: queuePrefix });
  queue.on('error', () => undefined);
});

afterAll(async () => {
  await worker?.stop('SIGKILL');
  await queue?.close().catch(() => undefined);
  connection?.disconnect();
  for (const server of servers) {
    if (server.exitCode === null && server.signalCode === null) {
      const exited = once(server, 'exit');
      server.kill('SIGKILL');
      await exited;
    }
  }
  await database?.drop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe.skipIf(!hasRedisServer)('Redis Sentinel', () => {
  it('a worker configured for Sentinel runs backups before and after a failover', async () => {
    worker = startWardenProcess(
      'apps/worker/src/main.ts',
      testEnv({
        DATABASE_URL: database.url,
        BACKUP_ENVIRONMENT: 'fault',
        REDIS_URL: 'redis://127.0.0.1:6379',
        REDIS_SENTINELS: `127.0.0.1:${sentinelPort}`,
        REDIS_SENTINEL_NAME: MASTER_NAME,
        QUEUE_PREFIX: queuePrefix,
        BACKUP_DIR: path.join(workDir, 'backups'),
        BACKUP_SPOOL_DIR: path.join(workDir, 'spool'),
        BACKUP_MIN_FREE_MB: '0',
        WORKER_METRICS_PORT: '0',
      }),
    );
    await worker.waitForLine(/"msg":"worker started"/, 60_000);
    expect(await sentinelMaster()).toBe(masterPort);

    const before = await queue.add(JOB_NAMES.backupCreate, { target: database.name, trigger: 'api' });
    const first = await waitForJobEnd(queue, before, 60_000);
    expect(first.failedReason).toBeUndefined();
    expect(first.returnvalue).toMatchObject({ status: 'success' });

    // The master dies; the sentinel promotes the replica.
    const master = servers[0];
    const exited = once(master as ChildProcess, 'exit');
    master?.kill('SIGKILL');
    await exited;
    await waitFor(
      async () => ((await sentinelMaster().catch(() => 0)) === replicaPort ? true : undefined),
      30_000,
      'the sentinel to promote the replica',
    );

    const after = await queue.add(JOB_NAMES.backupCreate, { target: database.name, trigger: 'api' });
    const second = await waitForJobEnd(queue, after, 60_000);
    expect(second.failedReason).toBeUndefined();
    expect(second.returnvalue).toMatchObject({ status: 'success' });
    // The job went through the promoted replica.
    const direct = new Redis({ host: '127.0.0.1', port: replicaPort });
    direct.on('error', () => undefined);
    expect(await direct.exists(`${queuePrefix}:${QUEUE_NAMES.backups}:${after.id}`)).toBe(1);
    direct.disconnect();
    expect(worker.child.exitCode).toBeNull();
  });
});
