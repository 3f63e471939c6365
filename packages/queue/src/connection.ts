import { Cluster, Redis, type RedisOptions } from 'ioredis';

export interface RedisConnectionOptions {
  url: string;
  sentinels?: { host: string; port: number }[] | undefined;
  sentinelName?: string | undefined;
  clusterNodes?: { host: string; port: number }[] | undefined;
  /**
   * `producer` fails fast when Redis is away (an HTTP request must not hang);
   * `worker` waits for Redis forever, as BullMQ requires for blocking commands.
   */
  role: 'producer' | 'worker';
  /** Shown in `CLIENT LIST`; helps operators see who is connected. */
  connectionName?: string;
}

export type RedisConnection = Redis | Cluster;

/**
 * How long a worker's command waits for a Cluster to fail over before it fails (docs/architecture.md#redis-failover).
 * A master that dies is taken over by its replica after `cluster-node-timeout` (15 s by default) and
 * an election; until then the other nodes still redirect (MOVED) to the dead master and the
 * connection to it is closed. ioredis counts each redirect or closed connection against
 * `maxRedirections` (16, without delay, by default: under two seconds), so a job's update,
 * completion or lock release failed mid-failover. Each retry now waits, and there are enough of
 * them for about a minute.
 */
export const CLUSTER_FAILOVER_WINDOW_MS = 60_000;
const CLUSTER_RETRY_DELAY_MS = 500;
const WORKER_CLUSTER_RETRIES = {
  retryDelayOnMoved: CLUSTER_RETRY_DELAY_MS,
  retryDelayOnFailover: CLUSTER_RETRY_DELAY_MS,
  retryDelayOnClusterDown: CLUSTER_RETRY_DELAY_MS,
  retryDelayOnTryAgain: CLUSTER_RETRY_DELAY_MS,
  maxRedirections: CLUSTER_FAILOVER_WINDOW_MS / CLUSTER_RETRY_DELAY_MS,
};

/** Creates (but does not share) a Redis client for a single node, Sentinel or Cluster. */
export function createRedisConnection(options: RedisConnectionOptions): RedisConnection {
  const url = new URL(options.url);
  const roleOptions: RedisOptions =
    options.role === 'worker'
      ? { maxRetriesPerRequest: null, enableOfflineQueue: true }
      : { maxRetriesPerRequest: 1, enableOfflineQueue: false };
  const auth: RedisOptions = {
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    tls: url.protocol === 'rediss:' ? {} : undefined,
  };
  const common: RedisOptions = {
    ...roleOptions,
    connectionName: options.connectionName,
    // Reconnect with a capped back-off; BullMQ resumes once the client is ready again.
    retryStrategy: (times) => Math.min(times * 200, 5_000),
  };

  if (options.clusterNodes && options.clusterNodes.length > 0) {
    return new Cluster(options.clusterNodes, {
      enableOfflineQueue: roleOptions.enableOfflineQueue,
      ...(options.role === 'worker' ? WORKER_CLUSTER_RETRIES : {}),
      redisOptions: { ...auth, ...common },
    });
  }
  if (options.sentinels && options.sentinels.length > 0) {
    return new Redis({
      ...auth,
      ...common,
      sentinels: options.sentinels,
      name: options.sentinelName,
      sentinelPassword: auth.password,
    });
  }
  const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0;
  return new Redis({
    ...auth,
    ...common,
    host: url.hostname || '127.0.0.1',
    port: url.port ? Number(url.port) : 6379,
    db: Number.isInteger(db) ? db : 0,
  });
}
