import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** The subset of a pino logger this module uses. */
export interface MetricsLogger {
  info(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Options of {@link startMetricsServer}. */
export interface MetricsServerOptions {
  registry: Registry;
  /** `WORKER_METRICS_PORT`; 0 picks a free port (tests). */
  port: number;
  /** @defaultValue '127.0.0.1' */
  host?: string;
  logger?: MetricsLogger;
}

export interface MetricsServer {
  /** The port actually bound (differs from the requested one when 0 was asked for). */
  port: number;
  close(): Promise<void>;
}

/**
 * A small node:http server exposing `GET /metrics` for processes without an HTTP API (the worker).
 * Deliberately not Fastify: the worker needs one route, and a scrape must not depend on a framework.
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { registry, logger } = options;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(path === '/' ? 200 : 404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(path === '/' ? 'Warden metrics: see /metrics\n' : 'Not Found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end('Method Not Allowed\n');
      return;
    }
    registry.metrics().then(
      (body) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        logger?.error({ err }, 'collecting metrics failed');
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('collecting metrics failed\n');
      },
    );
  });
  // Idle keep-alive sockets from a scraper would otherwise hold close() open.
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(options.port, options.host ?? '127.0.0.1', () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => logger?.error({ err }, 'metrics server error'));
  const port = (server.address() as AddressInfo).port;
  logger?.info({ port, host: options.host ?? '127.0.0.1' }, 'metrics server listening');

  let closing: Promise<void> | undefined;
  return {
    port,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
