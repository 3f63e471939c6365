import { Cluster, Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { CLUSTER_FAILOVER_WINDOW_MS, createRedisConnection, type RedisConnection } from './connection.js';

// Port 1 refuses connections: the clients are inspected, never used.
const created: RedisConnection[] = [];
function make(options: Parameters<typeof createRedisConnection>[0]): RedisConnection {
  const client = createRedisConnection(options);
  client.on('error', () => undefined);
  created.push(client);
  return client;
}

afterEach(() => {
  for (const client of created.splice(0)) client.disconnect();
});

describe('createRedisConnection', () => {
  it('single node: host, port, db, credentials and TLS come from REDIS_URL', () => {
    const client = make({ url: 'rediss://app%40user:p%40ss@127.0.0.1:1/3', role: 'worker' });
    expect(client).toBeInstanceOf(Redis);
    const options = (client as Redis).options;
    expect(options).toMatchObject({
      host: '127.0.0.1',
      port: 1,
      db: 3,
      username: 'app@user',
      password: 'p@ss',
      tls: {},
    });
    expect(options.sentinels ?? null).toBeNull();
  });

  it('single node without path or credentials: db 0, no TLS, default port 6379', () => {
    const options = (make({ url: 'redis://127.0.0.1', role: 'worker' }) as Redis).options;
    expect(options).toMatchObject({ host: '127.0.0.1', port: 6379, db: 0 });
    expect(options.password ?? undefined).toBeUndefined();
    expect(options.tls ?? undefined).toBeUndefined();
  });

  it('worker role waits for Redis (BullMQ needs maxRetriesPerRequest: null); producer fails fast', () => {
    const worker = (make({ url: 'redis://127.0.0.1:1', role: 'worker' }) as Redis).options;
    expect(worker.maxRetriesPerRequest).toBeNull();
    expect(worker.enableOfflineQueue).toBe(true);
    const producer = (make({ url: 'redis://127.0.0.1:1', role: 'producer' }) as Redis).options;
    expect(producer.maxRetriesPerRequest).toBe(1);
    expect(producer.enableOfflineQueue).toBe(false);
  });

  it('reconnects with a capped back-off and names the connection', () => {
    const options = (
      make({ url: 'redis://127.0.0.1:1', role: 'worker', connectionName: 'warden-worker:backups' }) as Redis
    ).options;
    expect(options.connectionName).toBe('warden-worker:backups');
    const retry = options.retryStrategy;
    expect(retry?.(1)).toBe(200);
    expect(retry?.(10)).toBe(2_000);
    expect(retry?.(1_000)).toBe(5_000);
  });

  it('sentinel: asks the sentinels for the named master, with the URL credentials', () => {
    const sentinels = [
      { host: '127.0.0.1', port: 1 },
      { host: '127.0.0.2', port: 1 },
    ];
    const client = make({
      url: 'redis://:s3cret@ignored:6379',
      sentinels,
      sentinelName: 'mymaster',
      role: 'worker',
    });
    expect(client).toBeInstanceOf(Redis);
    const options = (client as Redis).options;
    expect(options.sentinels).toEqual(sentinels);
    expect(options.name).toBe('mymaster');
    expect(options.password).toBe('s3cret');
    expect(options.sentinelPassword).toBe('s3cret');
    expect(options.maxRetriesPerRequest).toBeNull();
  });

  it('cluster: a Cluster client over the nodes, role settings applied to every node connection', () => {
    const nodes = [
      { host: '127.0.0.1', port: 1 },
      { host: '127.0.0.1', port: 2 },
    ];
    const worker = make({ url: 'redis://:pw@127.0.0.1:6379', clusterNodes: nodes, role: 'worker' });
    expect(worker).toBeInstanceOf(Cluster);
    const options = (worker as Cluster).options;
    expect(options.enableOfflineQueue).toBe(true);
    expect(options.redisOptions).toMatchObject({ maxRetriesPerRequest: null, password: 'pw' });

    const producer = make({ url: 'redis://127.0.0.1:6379', clusterNodes: nodes, role: 'producer' });
    expect((producer as Cluster).options.enableOfflineQueue).toBe(false);
    expect((producer as Cluster).options.redisOptions).toMatchObject({
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
    });
  });

  it('cluster, worker role: a command waits through a failover (each redirect or closed connection delayed, about a minute of them); producer keeps the defaults', () => {
    const nodes = [{ host: '127.0.0.1', port: 1 }];
    const worker = (make({ url: 'redis://127.0.0.1:6379', clusterNodes: nodes, role: 'worker' }) as Cluster)
      .options;
    for (const delay of [
      worker.retryDelayOnMoved,
      worker.retryDelayOnFailover,
      worker.retryDelayOnClusterDown,
      worker.retryDelayOnTryAgain,
    ]) {
      expect(delay).toBeGreaterThan(0);
      expect((worker.maxRedirections ?? 0) * (delay ?? 0)).toBeGreaterThanOrEqual(CLUSTER_FAILOVER_WINDOW_MS);
    }
    // A default Cluster gives up after 16 undelayed redirects: well within a failover.
    expect(CLUSTER_FAILOVER_WINDOW_MS).toBeGreaterThan(15_000);
    const producer = (
      make({ url: 'redis://127.0.0.1:6379', clusterNodes: nodes, role: 'producer' }) as Cluster
    ).options;
    expect(producer.maxRedirections).toBe(16);
    expect(producer.retryDelayOnMoved).toBe(0);
  });

  it('cluster wins over sentinels only when nodes are given; empty lists mean a single node', () => {
    const client = make({ url: 'redis://127.0.0.1:1', sentinels: [], clusterNodes: [], role: 'worker' });
    expect(client).toBeInstanceOf(Redis);
    expect((client as Redis).options.sentinels ?? null).toBeNull();
  });
});
