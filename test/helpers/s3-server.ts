import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { S3StorageOptions } from '@warden/storage';

/** Dummy credentials s3rver accepts (it checks signatures against these). */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;
export const S3RVER_REGION = 'us-east-1';

/**
 * Options for `createS3Storage` on a bucket of the s3rver at `endpoint`: its credentials and region,
 * path-style addressing, checksums only when required.
 */
export function s3rverStorageOptions(endpoint: string, bucket: string, prefix = ''): S3StorageOptions {
  return {
    bucket,
    region: S3RVER_REGION,
    ...S3RVER_CREDENTIALS,
    endpoint,
    forcePathStyle: true,
    prefix,
    checksumWhenRequired: true,
  };
}

/** The environment variables that make a Warden process store its backups in an s3rver bucket. */
export function s3rverEnv(endpoint: string, bucket: string): Record<string, string> {
  return {
    BACKUP_S3_BUCKET: bucket,
    AWS_REGION: S3RVER_REGION,
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    S3_ENDPOINT: endpoint,
  };
}

export interface S3TestServer {
  /** `http://127.0.0.1:<port>`; use with path-style addressing. */
  endpoint: string;
  port: number;
  /** Directory where s3rver keeps buckets and objects; removed by `stop()`. */
  dir: string;
  stop(): Promise<void>;
}

/**
 * Runs in the child: s3rver's JS API on a free loopback port, reporting the port on stdout and
 * exiting when its stdin closes (the parent stopped it, or died).
 */
const CHILD_SCRIPT = `
const S3rver = require(process.env.S3RVER_MODULE);
const server = new S3rver({
  address: '127.0.0.1',
  port: Number(process.env.S3RVER_PORT),
  directory: process.env.S3RVER_DIR,
  silent: true,
  configureBuckets: JSON.parse(process.env.S3RVER_BUCKETS).map((name) => ({ name })),
});
server.on('error', () => {});
server.run().then(
  (address) => {
    process.stdout.write(JSON.stringify({ port: address.port }) + '\\n');
    process.stdin.resume();
    process.stdin.on('end', () => server.close().finally(() => process.exit(0)));
  },
  (error) => {
    process.stderr.write(String(error && error.stack || error) + '\\n');
    process.exit(1);
  },
);
`;

/**
 * Starts a real s3rver (S3 protocol on loopback, files in a fresh temp directory) with the given
 * buckets. Credentials {@link S3RVER_CREDENTIALS}, region {@link S3RVER_REGION}, path-style.
 *
 * s3rver runs in a child process started with `--openssl-legacy-provider`: it encrypts
 * ListObjectsV2 continuation tokens with DES, which OpenSSL 3 only offers through that provider.
 * In-process, any listing longer than one page (1,000 keys) fails with InternalError.
 */
export interface StartS3ServerOptions {
  buckets: string[];
  /** A fixed port, to bring a stopped server back where clients expect it. @defaultValue a free port */
  port?: number;
}

export async function startS3Server(options: StartS3ServerOptions): Promise<S3TestServer> {
  const s3rverModule = createRequire(import.meta.url).resolve('s3rver');
  const dir = await mkdtemp(path.join(tmpdir(), 'warden-s3rver-'));
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', CHILD_SCRIPT], {
    env: {
      PATH: process.env.PATH ?? '',
      S3RVER_MODULE: s3rverModule,
      S3RVER_DIR: dir,
      S3RVER_BUCKETS: JSON.stringify(options.buckets),
      S3RVER_PORT: String(options.port ?? 0),
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });

  let port: number;
  try {
    port = await readPort(child, () => stderr);
  } catch (error) {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  let stopping: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    dir,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = once(child, 'exit');
          child.stdin?.end();
          // A client still holding a keep-alive connection can delay close; do not wait forever.
          const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
          await exited;
          clearTimeout(timer);
        }
        await rm(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

async function readPort(child: ChildProcess, stderr: () => string): Promise<number> {
  if (!child.stdout) throw new Error('s3rver child has no stdout');
  const lines = createInterface({ input: child.stdout });
  const exit = once(child, 'exit').then(([code]) => {
    throw new Error(`s3rver exited with code ${String(code)} before listening: ${stderr()}`);
  });
  const timeout = new Promise<never>((_, reject) => {
    setTimeout(() => reject(new Error(`s3rver did not start within 15 s: ${stderr()}`)), 15_000).unref();
  });
  const firstLine = (async () => {
    for await (const line of lines) {
      const parsed = JSON.parse(line) as { port?: unknown };
      if (typeof parsed.port === 'number') return parsed.port;
    }
    throw new Error(`s3rver closed its output before listening: ${stderr()}`);
  })();
  try {
    return await Promise.race([firstLine, exit, timeout]);
  } finally {
    // The child must not keep the test runner alive through these handles.
    exit.catch(() => undefined);
    lines.close();
    child.stdout.destroy();
  }
}
