import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRedisConnection } from '@warden/queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteKeys, REDIS_URL, TEST_TOKEN, uniquePrefix } from './helpers/api-fixtures.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx');
const MAIN = path.join(ROOT, 'apps', 'api', 'src', 'main.ts');

interface Run {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  exit: Promise<number | null>;
}

function start(env: Record<string, string>): Run {
  const child = spawn(TSX, [MAIN], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout, stderr, exit };
}

async function waitForLog(run: Run, message: string, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const line = run.stdout
      .join('')
      .split('\n')
      .find((candidate) => candidate.includes(`"msg":"${message}"`));
    if (line) return JSON.parse(line);
    if (run.child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no "${message}" log line; stdout: ${run.stdout.join('')} stderr: ${run.stderr.join('')}`);
}

describe('apps/api main.ts', () => {
  let dir: string;
  let prefix: string;
  let baseEnv: Record<string, string>;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'warden-api-main-'));
    prefix = uniquePrefix('main');
    baseEnv = {
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
      BACKUP_DIR: path.join(dir, 'backups'),
      BACKUP_SPOOL_DIR: path.join(dir, 'spool'),
      PORT: '0',
      LOG_LEVEL: 'info',
    };
  });
  afterAll(async () => {
    const redis = createRedisConnection({ url: REDIS_URL, role: 'producer' });
    redis.on('error', () => undefined);
    await deleteKeys(redis, prefix);
    await redis.quit();
    await rm(dir, { recursive: true, force: true });
  });

  it('exits 2 with every configuration problem on stderr', async () => {
    const run = start({ ...baseEnv, PORT: 'eighty', LOG_LEVEL: 'loud' });
    expect(await run.exit).toBe(2);
    const stderr = run.stderr.join('');
    expect(stderr).toContain('PORT: must be a number');
    expect(stderr).toContain('LOG_LEVEL');
  });

  it('refuses to listen beyond loopback without ADMIN_API_TOKEN', async () => {
    const run = start({ ...baseEnv, HOST: '0.0.0.0' });
    expect(await run.exit).toBe(2);
    expect(run.stderr.join('')).toContain('refusing to listen on 0.0.0.0 without ADMIN_API_TOKEN');
  });

  it('starts, syncs the schedulers, serves, and shuts down cleanly on SIGTERM', async () => {
    const run = start({ ...baseEnv, HOST: '0.0.0.0', ADMIN_API_TOKEN: TEST_TOKEN });
    try {
      const listening = await waitForLog(run, 'api listening');
      const port = new URL(String(listening.address)).port;
      const base = `http://127.0.0.1:${port}`;

      const health = await fetch(`${base}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'healthy', service: 'warden' });

      const schedules = await fetch(`${base}/api/admin/schedules`, {
        headers: { authorization: `Bearer ${TEST_TOKEN}` },
      });
      expect(schedules.status).toBe(200);
      const ids = ((await schedules.json()) as { schedules: { id: string }[] }).schedules
        .map((s) => s.id)
        .sort();
      expect(ids).toEqual(['backup:test', 'probes', 'restore-verify:test']);

      // The real probes run: the report names every service whatever their state here.
      const detailed = await fetch(`${base}/health/detailed`);
      expect([200, 503]).toContain(detailed.status);
      const report = (await detailed.json()) as {
        status: string;
        services: Record<string, { status: string }>;
      };
      expect(Object.keys(report.services)).toEqual(
        expect.arrayContaining(['database', 'redis', 'disk', 'workers', 'queues']),
      );
      expect(report.services.database?.status).toBe('healthy');
      expect(report.services.redis?.status).toBe('healthy');
      expect(detailed.status).toBe(report.status === 'unhealthy' ? 503 : 200);

      const metrics = await fetch(`${base}/metrics`);
      expect(await metrics.text()).toContain(
        'warden_http_requests_total{method="GET",route="/health",status_code="200"',
      );

      run.child.kill('SIGTERM');
      expect(await run.exit).toBe(0);
      await waitForLog(run, 'shut down', 1_000);
      expect(run.stdout.join('')).not.toContain(TEST_TOKEN);
    } finally {
      if (run.child.exitCode === null) run.child.kill('SIGKILL');
    }
  });
});
