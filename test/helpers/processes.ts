import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Job, Queue } from 'bullmq';
import { freePort } from '../faults/fault-helpers.js';
import { uniquePrefix } from './test-run.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** How `npm run start:*` and the CLI scripts start an entry point (package.json), flags included. */
const RUN_ENTRY = ['--max-semi-space-size=1', 'scripts/run.mjs'];

export interface WardenProcess {
  child: ChildProcess;
  pid: number;
  /** Every stdout and stderr line so far. */
  lines: string[];
  /** Resolves with the first line matching, or rejects after `timeoutMs`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/** Environment a Warden process gets in tests: PATH only, plus what the test sets. */
export function testEnv(vars: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    // Never the default `warden` namespace: that is a developer's own installation on this Redis.
    QUEUE_PREFIX: uniquePrefix(`process-${process.pid}`),
  };
  for (const [name, value] of Object.entries(vars)) if (value !== undefined) env[name] = value;
  return env;
}

/** Starts `node scripts/run.mjs <entry>` from the repository root, as `npm run start:*` does. */
export function startWardenProcess(
  entry: string,
  env: NodeJS.ProcessEnv,
  args: string[] = [],
): WardenProcess {
  const child = spawn(process.execPath, [...RUN_ENTRY, entry, ...args], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const onData = (buffered: { rest: string }) => (chunk: Buffer) => {
    const text = buffered.rest + chunk.toString();
    const parts = text.split('\n');
    buffered.rest = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      for (const waiter of [...waiters]) {
        if (waiter.pattern.test(line)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    }
  };
  child.stdout?.on('data', onData({ rest: '' }));
  child.stderr?.on('data', onData({ rest: '' }));
  const exited = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string);

  return {
    child,
    pid: child.pid ?? -1,
    lines,
    exited,
    waitForLine(pattern, timeoutMs = 30_000) {
      const existing = lines.find((line) => pattern.test(line));
      if (existing) return Promise.resolve(existing);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(
            new Error(
              `no line matching ${pattern} within ${timeoutMs} ms; output:\n${lines.slice(-30).join('\n')}`,
            ),
          );
        }, timeoutMs);
        waiters.push({
          pattern,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
        void exited.then((code) => {
          clearTimeout(timer);
          reject(
            new Error(
              `process exited (${code}) before a line matching ${pattern}:\n${lines.slice(-30).join('\n')}`,
            ),
          );
        });
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/**
 * Starts the real API and worker processes with `env` (which sets `PORT`) and resolves once the
 * worker says it started and the API answers `/health`.
 */
export async function startApiAndWorker(
  env: NodeJS.ProcessEnv,
): Promise<{ api: WardenProcess; worker: WardenProcess; url: string }> {
  const url = `http://127.0.0.1:${env.PORT}`;
  const api = startWardenProcess('apps/api/src/main.ts', env);
  const worker = startWardenProcess('apps/worker/src/main.ts', env);
  await Promise.all([
    worker.waitForLine(/"msg":"worker started"/, 60_000),
    waitFor(
      async () =>
        (await fetch(`${url}/health`)
          .then((r) => r.ok)
          .catch(() => false)) || undefined,
      60_000,
      'the API to listen',
    ),
  ]).catch(async (error: unknown) => {
    await Promise.all([api.stop(), worker.stop()]);
    throw error;
  });
  return { api, worker, url };
}

/** Polls `check` until it returns a value other than undefined. */
export async function waitFor<T>(
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Polls `queue` until `job` is completed or failed; resolves with its fresh copy. */
export async function waitForJobEnd(queue: Queue, job: Job, timeoutMs: number): Promise<Job> {
  return waitFor(
    async () => {
      // State first, then the job: a job read before it finished would lack its result.
      const state = await queue.getJobState(job.id ?? '');
      return state === 'completed' || state === 'failed' ? await queue.getJob(job.id ?? '') : undefined;
    },
    timeoutMs,
    `job ${job.id} to finish`,
  );
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node scripts/run.mjs <entry> <args>` from the repository root to its end, collecting its output. */
export function runWardenCli(entry: string, args: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...RUN_ENTRY, entry, ...args], {
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Whether `command --version` runs: optional tools (zstd, …) decide which tests can run here. */
export function commandAvailable(command: string): boolean {
  try {
    execFileSync(command, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** What {@link startWardenFor} needs: one database, a folder for its files, the rest by default. */
export interface WardenForOptions {
  databaseUrl: string;
  workDir: string;
  environment: string;
  queuePrefix: string;
  /** A pg_dump stand-in (writePgDumpWrapper) or the real one. */
  pgDumpPath: string;
  /** More variables (tokens, intervals); they win over the defaults above. */
  vars?: Record<string, string | undefined>;
}

/**
 * The API on a free port and one worker, backing up one database into `workDir` (backups and
 * spool), as the end-to-end tests run them.
 */
export async function startWardenFor(
  options: WardenForOptions,
): Promise<{ api: WardenProcess; worker: WardenProcess; url: string }> {
  const port = await freePort();
  return startApiAndWorker(
    testEnv({
      DATABASE_URL: options.databaseUrl,
      BACKUP_ENVIRONMENT: options.environment,
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: options.queuePrefix,
      BACKUP_DIR: path.join(options.workDir, 'backups'),
      BACKUP_SPOOL_DIR: path.join(options.workDir, 'spool'),
      PG_DUMP_PATH: options.pgDumpPath,
      PORT: String(port),
      WORKER_METRICS_PORT: '0',
      ...options.vars,
    }),
  );
}
