import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_TOKEN } from '../helpers/api-fixtures.js';
import { type ApiProcess, startApiProcess } from '../helpers/api-process.js';

/** The bound; the API's default request timeout (10 s) leaves a wide margin below it. */
const CUT_OFF_BOUND_MS = 30_000;
const TRICKLE_INTERVAL_MS = 5_000;

interface Trickle {
  /** Bytes written before the server closed the connection. */
  sent: number;
  /** What the server answered before closing, if anything. */
  answer: string;
  /** Whether the server closed the connection within the bound. */
  closedInTime: boolean;
}

/**
 * Sends `head` at once, then `rest` one byte every 5 s, as a slowloris client does, until the server
 * closes the connection or the bound passes.
 */
async function trickle(port: number, head: string, rest: string): Promise<Trickle> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  let answer = '';
  socket.on('data', (chunk: Buffer) => {
    answer += chunk.toString();
  });
  // A reset is one way the server cuts a client off (it closes with the unread body pending), so
  // it counts as closed: events.once would reject on the 'error' that comes before 'close'.
  socket.on('error', () => undefined);
  const closed = new Promise<true>((resolve) => socket.once('close', () => resolve(true)));
  socket.write(head);
  let sent = head.length;
  const timer = setInterval(() => {
    if (sent - head.length < rest.length && !socket.destroyed) {
      socket.write(rest[sent - head.length] ?? '');
      sent += 1;
    }
  }, TRICKLE_INTERVAL_MS);
  const bound = new Promise<false>((resolve) => setTimeout(() => resolve(false), CUT_OFF_BOUND_MS));
  const closedInTime = await Promise.race([closed, bound]);
  clearInterval(timer);
  socket.destroy();
  return { sent, answer, closedInTime };
}

describe('slow clients against the real API process', () => {
  let api: ApiProcess;

  beforeAll(async () => {
    api = await startApiProcess('slow', { ADMIN_API_TOKEN: TEST_TOKEN });
  });

  afterAll(async () => {
    await api?.close();
  });

  const postHead = (body: string, headers: string[] = []) =>
    [
      'POST /api/admin/backup HTTP/1.1',
      `Host: 127.0.0.1:${api.port}`,
      'Content-Type: application/json',
      `Content-Length: ${body.length}`,
      ...headers,
      '',
      '',
    ].join('\r\n');
  const body = JSON.stringify({ target: 'test', reason: 'x'.repeat(40) });

  it('cuts off an unauthenticated body sent one byte every 5 s', async () => {
    const head = postHead(body);
    const result = await trickle(api.port, head, body);
    expect(result.closedInTime).toBe(true);
    // Cut off long before the body was complete. The 401 went out at once (authentication runs
    // before the body is read), but the connection no longer stays open for the rest of the body.
    expect(result.sent).toBeLessThan(head.length + body.length);
    expect(result.answer).toMatch(/^HTTP\/1\.1 401 /);
  });

  it('cuts off an authenticated body sent one byte every 5 s, answering 408', async () => {
    const head = postHead(body, [`Authorization: Bearer ${TEST_TOKEN}`]);
    const result = await trickle(api.port, head, body);
    expect(result.closedInTime).toBe(true);
    expect(result.sent).toBeLessThan(head.length + body.length);
    expect(result.answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('cuts off headers sent one byte every 5 s', async () => {
    const head = `GET /api/admin/targets HTTP/1.1\r\nHost: 127.0.0.1:${api.port}\r\n`;
    const result = await trickle(api.port, head, 'X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n');
    expect(result.closedInTime).toBe(true);
    expect(result.answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('still serves a normal request', async () => {
    const response = await fetch(`${api.url}/health`);
    expect(response.status).toBe(200);
  });
});
