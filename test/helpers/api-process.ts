import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRedisConnection } from '@warden/queue';
import { deleteKeys, REDIS_URL, uniquePrefix } from './api-fixtures.js';
import { startWardenProcess, testEnv, type WardenProcess } from './processes.js';

export interface ApiProcess {
  process: WardenProcess;
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  prefix: string;
  /** Stops the process, deletes its Redis keys and its directory. */
  close(): Promise<void>;
}

/**
 * The real API (`npm run start:api`) on a free loopback port, with its own QUEUE_PREFIX and storage
 * directory, the `test` database as its target, backups disabled and probes far apart so that only
 * the test's own requests reach it.
 */
export async function startApiProcess(name: string, env: Record<string, string> = {}): Promise<ApiProcess> {
  // A second process may join another's installation by passing its QUEUE_PREFIX.
  const prefix = env.QUEUE_PREFIX ?? uniquePrefix(name);
  const dir = await mkdtemp(path.join(tmpdir(), `warden-${name}-`));
  const child = startWardenProcess(
    'apps/api/src/main.ts',
    testEnv({
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
      BACKUP_DIR: path.join(dir, 'backups'),
      BACKUP_SPOOL_DIR: path.join(dir, 'spool'),
      BACKUP_ENABLED: 'false',
      RESTORE_VERIFY_ENABLED: 'false',
      PROBE_INTERVAL_SECONDS: '3600',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      ...env,
    }),
  );
  const close = async () => {
    await child.stop();
    const redis = createRedisConnection({ url: REDIS_URL, role: 'producer' });
    redis.on('error', () => undefined);
    await deleteKeys(redis, prefix);
    await redis.quit();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const line = await child.waitForLine(/"msg":"api listening"/, 60_000);
    const port = Number(new URL(String((JSON.parse(line) as { address: string }).address)).port);
    return { process: child, url: `http://127.0.0.1:${port}`, port, prefix, close };
  } catch (error) {
    await close();
    throw error;
  }
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json<T = Record<string, unknown>>(): T;
}

/**
 * One HTTP request with exactly the headers given (node:http, unlike fetch, lets a test set Host and
 * Origin as a browser or an attacker would).
 */
export function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const body = options.body;
    const request = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method: options.method ?? 'GET',
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...options.headers,
        },
        agent: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: text,
            json: () => JSON.parse(text),
          });
        });
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}
