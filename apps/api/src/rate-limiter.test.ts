import { Writable } from 'node:stream';
import { createLogger } from '@warden/logging';
import type { RedisConnection } from '@warden/queue';
import { describe, expect, it } from 'vitest';
import { createRateLimiter } from './rate-limiter.js';

const logger = createLogger({ service: 'rate-limiter-test', level: 'silent' });

describe('createRateLimiter', () => {
  it('counts per bucket and client in-process when Redis does not answer, and says so once', async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, callback) {
        lines.push(chunk.toString());
        callback();
      },
    });
    const failingRedis = {
      eval: () => Promise.reject(new Error("Stream isn't writeable and enableOfflineQueue options is false")),
    } as unknown as RedisConnection;
    const limiter = createRateLimiter({
      redis: failingRedis,
      keyPrefix: 'test:rate-limit',
      logger: createLogger({ service: 'rate-limiter-test', level: 'warn', destination }),
    });
    const verdicts = [];
    for (let i = 0; i < 3; i++) verdicts.push(await limiter.hit('requests', 'admin:10.0.0.1', 2));
    expect(verdicts.map((verdict) => verdict.allowed)).toEqual([true, true, false]);
    expect(verdicts[0]).toMatchObject({ limit: 2, remaining: 1 });
    expect(verdicts[0]?.resetMs).toBeGreaterThan(0);
    expect((await limiter.hit('requests', 'admin:10.0.0.2', 2)).allowed).toBe(true);
    expect((await limiter.hit('auth-failures', 'admin:10.0.0.1', 2)).allowed).toBe(true);
    expect(lines.map((line) => JSON.parse(line).msg)).toEqual([
      'rate-limit counters unavailable in Redis; counting in this process',
    ]);
  });

  it('starts a new window once the old one has passed', async () => {
    const limiter = createRateLimiter({ redis: undefined, keyPrefix: 'test', windowMs: 50, logger });
    expect((await limiter.hit('b', 'c', 1)).allowed).toBe(true);
    expect((await limiter.hit('b', 'c', 1)).allowed).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect((await limiter.hit('b', 'c', 1)).allowed).toBe(true);
  });
});
