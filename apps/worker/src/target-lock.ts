import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';

/**
 * A Redis lock that keeps two backups of one target from running at once, across every worker
 * process and host. It expires on its own when its holder dies (kill -9), and is renewed while held.
 */
export interface TargetLock {
  /** Resolves false when another holder has the lock. */
  acquire(): Promise<boolean>;
  release(): Promise<void>;
}

const RELEASE_IF_OWNER = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const RENEW_IF_OWNER = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

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
    async release() {
      if (renewTimer) clearInterval(renewTimer);
      renewTimer = undefined;
      await options.redis.eval(RELEASE_IF_OWNER, 1, options.key, owner);
    },
  };
}
