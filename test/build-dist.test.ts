/**
 * `npm run build` (scripts/build.mjs) bundles every entry point an npm script runs into dist/, the
 * bundles run with plain `node`, and the image's health-check script answers as HEALTHCHECK expects.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './helpers/processes.js';

const run = promisify(execFile);
const manifest = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
  version: string;
  scripts: Record<string, string>;
};

/** Runs a command to its end; resolves with its exit code and output instead of throwing. */
async function exitOf(args: string[], env: NodeJS.ProcessEnv = process.env) {
  try {
    const { stdout, stderr } = await run(process.execPath, args, { cwd: REPO_ROOT, env });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: failed.stdout + failed.stderr };
  }
}

describe('npm run build', () => {
  let buildInfo: { version: string; entries: Record<string, string>; externals: string[] };

  beforeAll(async () => {
    const built = await exitOf(['scripts/build.mjs']);
    expect(built.code, built.output).toBe(0);
    buildInfo = JSON.parse(readFileSync(path.join(REPO_ROOT, 'dist', 'build-info.json'), 'utf8'));
  }, 120_000);

  it('writes one bundle per entry point that an npm script runs', () => {
    const scripted = Object.values(manifest.scripts).flatMap((command) =>
      [...command.matchAll(/scripts\/run\.mjs\s+(\S+\.ts)/g)].map((match) => match[1]),
    );
    expect(Object.values(buildInfo.entries).sort()).toEqual([...new Set(scripted)].sort());
    expect(buildInfo.entries).toMatchObject({
      api: 'apps/api/src/main.ts',
      worker: 'apps/worker/src/main.ts',
      'backup-create': 'apps/worker/src/cli/backup-create.ts',
    });
    for (const name of Object.keys(buildInfo.entries)) {
      expect(existsSync(path.join(REPO_ROOT, 'dist', `${name}.mjs`)), name).toBe(true);
    }
    expect(buildInfo.version).toBe(manifest.version);
  });

  it('runs a built CLI with node alone, arguments and exit code its own', async () => {
    const result = await exitOf(['dist/backup-list.mjs', '--no-such-flag']);
    expect(result.code).toBe(2);
    expect(result.output).toContain('usage: npm run backup:list');
  });

  it('finds every package the bundles load (the check the image build runs)', async () => {
    expect(buildInfo.externals).toEqual(expect.arrayContaining(['fastify', 'pino', '@sentry/node']));
    const checked = await exitOf(['scripts/build.mjs', '--check']);
    expect(checked.code, checked.output).toBe(0);
    // The check needs nothing but the script itself: the image runs it without the sources.
    expect(readFileSync(path.join(REPO_ROOT, 'scripts', 'build.mjs'), 'utf8')).not.toMatch(
      /^import .*\.\.\//m,
    );
    expect(checked.output).toContain(`all ${buildInfo.externals.length} external packages load`);
  });
});

describe('scripts/healthcheck.mjs', () => {
  let server: Server;
  let port: number;
  let status = 200;
  const seen: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(req.url ?? '');
      res.statusCode = status;
      res.end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  const check = (role: string, env: Record<string, string>) =>
    exitOf(['scripts/healthcheck.mjs', role], { PATH: process.env.PATH ?? '', ...env });

  it('passes on a 2xx from the API /health and the worker /metrics, on their own ports', async () => {
    status = 200;
    expect((await check('api', { PORT: String(port) })).code).toBe(0);
    expect((await check('worker', { WORKER_METRICS_PORT: String(port) })).code).toBe(0);
    expect(seen.slice(-2)).toEqual(['/health', '/metrics']);
  });

  it('fails on an error status, on nothing listening, and on an unknown role', async () => {
    status = 503;
    const unhealthy = await check('api', { PORT: String(port) });
    expect(unhealthy).toMatchObject({ code: 1 });
    expect(unhealthy.output).toContain('HTTP 503');
    const unused = createServer();
    await new Promise<void>((resolve) => unused.listen(0, '127.0.0.1', resolve));
    const unusedPort = (unused.address() as AddressInfo).port;
    await new Promise((resolve) => unused.close(resolve));
    const closed = await check('worker', { WORKER_METRICS_PORT: String(unusedPort) });
    expect(closed).toMatchObject({ code: 1 });
    expect(closed.output).toContain('ECONNREFUSED');
    expect((await check('scheduler', {})).code).toBe(2);
  });
});
