import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, TEST_TOKEN } from '../helpers/api-fixtures.js';
import { type ApiProcess, rawRequest, startApiProcess } from '../helpers/api-process.js';

const WRONG = bearer('wrong-wrong-wrong-wrong-wrong');

describe('rate limits against real API processes sharing one Redis', () => {
  /** Default limits, no trusted proxy. */
  let direct: ApiProcess;
  /** The same installation (QUEUE_PREFIX) behind a trusted proxy on 127.0.0.1, with small budgets. */
  let proxied: ApiProcess;

  const get = (api: ApiProcess, headers: Record<string, string>) =>
    rawRequest(`${api.url}/api/admin/targets`, { headers });

  beforeAll(async () => {
    direct = await startApiProcess('limits', { ADMIN_API_TOKEN: TEST_TOKEN });
    proxied = await startApiProcess('limits-proxied', {
      ADMIN_API_TOKEN: TEST_TOKEN,
      QUEUE_PREFIX: direct.prefix,
      TRUST_PROXY: '127.0.0.1',
      API_RATE_LIMIT_PER_MINUTE: '5',
      API_AUTH_FAILURES_PER_MINUTE: '3',
    });
  });

  afterAll(async () => {
    await proxied?.process.stop();
    await direct?.close();
  });

  it('still takes the real token after 130 requests without one', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 130; i++) statuses.push((await get(direct, {})).status);
    // API_AUTH_FAILURES_PER_MINUTE=30 by default: the brute-force guard engages...
    expect(statuses.slice(0, 30).every((status) => status === 401)).toBe(true);
    expect(statuses.slice(30).every((status) => status === 429)).toBe(true);
    // ...and never stands in the way of the valid token.
    const real = await get(direct, bearer());
    expect(real.status).toBe(200);
    expect(real.json()).toHaveProperty('targets');
  });

  it('shares the counters between API processes through Redis', async () => {
    // The other process has seen none of those 130 requests, yet refuses this address's next guess.
    const guess = await get(proxied, WRONG);
    expect(guess.status).toBe(429);
    expect(guess.json().error).toMatchObject({ code: 'RATE_LIMITED' });
    expect((await get(proxied, bearer())).status).toBe(200);
  });

  it('counts each client behind a trusted proxy on its own (TRUST_PROXY)', async () => {
    const from = (address: string) => ({ ...WRONG, 'x-forwarded-for': address });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await get(proxied, from('203.0.113.7'))).status);
    expect(statuses).toEqual([401, 401, 401, 429]);
    expect((await get(proxied, from('203.0.113.8'))).status).toBe(401);
    // Without TRUST_PROXY the header is not believed: the peer (127.0.0.1) is the client.
    expect((await get(direct, from('203.0.113.9'))).status).toBe(429);
  });

  it('gives authenticated requests their own configurable budget (API_RATE_LIMIT_PER_MINUTE)', async () => {
    const from = (address: string) => ({ ...bearer(), 'x-forwarded-for': address });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await get(proxied, from('198.51.100.1'))).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    const limited = await get(proxied, from('198.51.100.1'));
    expect(limited.json<{ error: { message: string } }>().error.message).toMatch(/too many requests/);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect((await get(proxied, from('198.51.100.2'))).status).toBe(200);
  });
});
