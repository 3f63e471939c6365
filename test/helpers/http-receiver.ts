import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';

/** One request as the receiver saw it, body already decompressed. */
export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  /** The status the receiver answered with. */
  status: number;
}

/** A scripted answer; a bare number is a status with an empty JSON-ish body. */
export type ScriptedResponse =
  | number
  | { status: number; body?: string; headers?: Record<string, string>; delayMs?: number };

export interface HttpReceiver {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** Answers the next requests with these responses, in order, then with the default again. */
  script(responses: ScriptedResponse[]): void;
  /** Resolves once at least `count` requests (matching `filter`) arrived. */
  waitFor(
    count: number,
    options?: { timeoutMs?: number; filter?: (request: RecordedRequest) => boolean },
  ): Promise<RecordedRequest[]>;
  reset(): void;
  close(): Promise<void>;
}

function decode(body: Buffer, encoding: string | undefined): Buffer {
  switch (encoding) {
    case 'gzip':
      return gunzipSync(body);
    case 'deflate':
      return inflateSync(body);
    case 'br':
      return brotliDecompressSync(body);
    default:
      return body;
  }
}

/**
 * A local HTTP server recording every request: a fake Slack webhook, a fake Sentry ingest (any
 * path, e.g. `POST /api/1/envelope/`), or anything else a test points an SDK at. It can answer a
 * scripted sequence of statuses (500, 429 with Retry-After, slow answers) before the default.
 */
export async function startHttpReceiver(
  options: { defaultStatus?: number; defaultBody?: string } = {},
): Promise<HttpReceiver> {
  const requests: RecordedRequest[] = [];
  let queue: ScriptedResponse[] = [];
  const waiters = new Set<() => void>();

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const scripted = queue.shift() ?? {
        status: options.defaultStatus ?? 200,
        body: options.defaultBody ?? 'ok',
      };
      const response =
        typeof scripted === 'number' ? { status: scripted, body: scripted < 300 ? 'ok' : 'error' } : scripted;
      let body: Buffer;
      try {
        body = decode(Buffer.concat(chunks), req.headers['content-encoding']);
      } catch {
        body = Buffer.concat(chunks);
      }
      requests.push({
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers: req.headers,
        body,
        text: body.toString('utf8'),
        status: response.status,
      });
      for (const wake of waiters) wake();
      const answer = () => {
        res.writeHead(response.status, { 'content-type': 'text/plain', ...response.headers });
        res.end(response.body ?? '');
      };
      if (response.delayMs) setTimeout(answer, response.delayMs);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    script(responses) {
      queue = [...responses];
    },
    waitFor(count, waitOptions = {}) {
      const { timeoutMs = 10_000, filter = () => true } = waitOptions;
      const matching = () => requests.filter(filter);
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = matching();
          if (found.length >= count) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(found);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`expected ${count} request(s) within ${timeoutMs} ms, got ${matching().length}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    reset() {
      requests.length = 0;
      queue = [];
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}
