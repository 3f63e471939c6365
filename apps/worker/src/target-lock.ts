import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';

/**
 * A Redis lock that keeps two backups of one target from running at once, across every worker
 * process and host. It expires on its own when its holder dies (kill -9), and is renewed while held.
 */
export interface TargetLock {
  /** Resolves false when another holder has the lock. */
  acquire(): Promise<boolean>;
  /**
   * Gives the lock up; with `holdUntilMs` in the future the key stays (unrenewed) until then, so the
   * next backup of the target cannot start in the same second of a file name that one just took.
   */
  release(holdUntilMs?: number): Promise<void>;
}

const RELEASE_IF_OWNER = `
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) > 0 then return redis.call('pexpireat', KEYS[1], ARGV[2]) end
return redis.call('del', KEYS[1])`;
const RENEW_IF_OWNER = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

/** Runs a Redis command again (up to 5 attempts over about 15 s) while it fails, e.g. mid-failover. */
export async function retryRedis<T>(command: () => Promise<T>, attempts = 5, delayMs = 1_000): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await command();
    } catch (error) {
      if (attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, delayMs * attempt));
    }
  }
}

export interface TargetLockOptions {
  redis: Redis | Cluster;
  key: string;
  /** How long a dead holder blocks the target. @defaultValue 60000 */
  ttlMs?: number;
  onRenewError?: (error: unknown) => void;
}

export function createTargetLock(options: TargetLockOptions): TargetLock {
  const ttlMs = options.ttlMs ?? 60_000;
  const owner = randomUUID();
  let renewTimer: NodeJS.Timeout | undefined;

  return {
    async acquire() {
      const result = await options.redis.set(options.key, owner, 'PX', ttlMs, 'NX');
      if (result !== 'OK') return false;
      renewTimer = setInterval(
        () => {
          options.redis.eval(RENEW_IF_OWNER, 1, options.key, owner, String(ttlMs)).catch((error: unknown) => {
            options.onRenewError?.(error);
          });
        },
        Math.max(1_000, Math.floor(ttlMs / 3)),
      );
      renewTimer.unref();
      return true;
    },
    async release(holdUntilMs) {
      if (renewTimer) clearInterval(renewTimer);
      renewTimer = undefined;
      const holdUntil = holdUntilMs !== undefined && holdUntilMs > Date.now() ? Math.ceil(holdUntilMs) : 0;
      // Retried: during a Redis failover the first attempts fail, and a lock left behind blocks
      // the target until it expires.
      await retryRedis(() => options.redis.eval(RELEASE_IF_OWNER, 1, options.key, owner, String(holdUntil)));
    },
  };
}
