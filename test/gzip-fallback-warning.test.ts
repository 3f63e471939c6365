/**
 * A worker that finds neither igzip nor pigz says so once at start, with the cost and the package to
 * install, instead of silently compressing with Node's zlib.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniquePrefix } from './helpers/api-fixtures.js';
import { startWardenProcess, testEnv } from './helpers/processes.js';

const has = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
const WARNING = /neither igzip nor pigz found: gzip backups use Node's zlib and take about 1\.5x as long/;
let workDir: string;
const prefixes: string[] = [];

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'warden-gzip-fallback-'));
});
afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
  const redis = new Redis('redis://127.0.0.1:6379');
  try {
    for (const prefix of prefixes) {
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
    }
  } finally {
    await redis.quit();
  }
});

async function workerLines(vars: Record<string, string>): Promise<string[]> {
  const prefix = uniquePrefix('gzip-fallback');
  prefixes.push(prefix);
  const worker = startWardenProcess(
    'apps/worker/src/main.ts',
    testEnv({
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: prefix,
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
      BACKUP_DIR: path.join(workDir, 'backups'),
      BACKUP_SPOOL_DIR: path.join(workDir, 'spool'),
      WORKER_METRICS_PORT: '0',
      LOG_LEVEL: 'info',
      ...vars,
    }),
  );
  try {
    await worker.waitForLine(/"msg":"worker metrics listening"/, 60_000);
  } finally {
    expect(await worker.stop('SIGTERM')).toBe(0);
  }
  return worker.lines;
}

describe('the worker without igzip and pigz', () => {
  it('warns once at start, naming the slowdown and the packages', async () => {
    // An empty PATH: node itself is started by absolute path.
    const lines = await workerLines({ PATH: path.join(workDir, 'empty-path') });
    const warnings = lines.filter((line) => WARNING.test(line));
    expect(warnings).toHaveLength(1);
    const entry = JSON.parse(warnings[0]!) as { level: string; msg: string };
    expect(entry.level).toBe('warn');
    expect(entry.msg).toContain('install the package isal (igzip) or pigz');
  });

  it.skipIf(!has('igzip') && !has('pigz'))('says nothing when one of them is installed', async () => {
    const lines = await workerLines({});
    expect(lines.filter((line) => /igzip|pigz/.test(line))).toEqual([]);
  });

  it('says nothing when zlib was chosen on purpose', async () => {
    const lines = await workerLines({ PATH: path.join(workDir, 'empty-path'), BACKUP_GZIP_ENGINE: 'zlib' });
    expect(lines.filter((line) => /igzip|pigz/.test(line))).toEqual([]);
  });
});
