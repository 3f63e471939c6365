/**
 * Alerts for a fleet: per-target conditions of one kind become one message per cycle, damped by
 * ALERT_AFTER_FAILURES / ALERT_RESOLVE_AFTER, with state in the real Redis; and the cached
 * `/health/detailed` answer turns degraded when the probe results go stale.
 */
import { createLogger } from '@warden/logging';
import { type CycleCondition, createConditionTracker, createSlackNotifier } from '@warden/notify';
import { createLatestHealth, type HealthReport } from '@warden/probes';
import { createRedisConnection } from '@warden/queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SlackReceiver, startSlackReceiver } from './helpers/alerts-receivers.js';
import { uniquePrefix } from './helpers/api-fixtures.js';
import { deleteKeysUnder } from './helpers/queues.js';

const prefix = uniquePrefix('alerts-fleet');
const redis = createRedisConnection({ url: 'redis://127.0.0.1:6379', role: 'producer' });
redis.on('error', () => undefined);
const logger = createLogger({ service: 'alerts-fleet-test', level: 'silent' });
let slack: SlackReceiver;

const TARGETS = Array.from({ length: 20 }, (_, index) => `t${String(index).padStart(2, '0')}`);
const GROUP = { key: 'health:database', titlePrefix: 'Database connection failed: ' };

function databaseConditions(failing: (target: string) => boolean): CycleCondition[] {
  return TARGETS.map((target) => ({
    key: `health:database:${target}`,
    active: failing(target),
    alert: {
      key: `health:database:${target}`,
      level: 'error',
      title: `Database connection failed: ${target}`,
      text: 'ECONNREFUSED',
    },
    group: GROUP,
    subject: target,
  }));
}

function trackerFor(name: string) {
  const keyPrefix = `${prefix}:${name}:alerts`;
  const notifier = createSlackNotifier({
    webhookUrl: slack.webhookUrl,
    botName: 'Warden',
    redis,
    keyPrefix,
    throttleSeconds: 600,
    logger,
  });
  const tracker = createConditionTracker({
    notifier,
    redis,
    keyPrefix,
    afterFailures: 2,
    resolveAfter: 3,
    logger,
  });
  return { notifier, tracker };
}

beforeAll(async () => {
  slack = await startSlackReceiver();
  // A fail-fast client refuses commands until connected.
  if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
});

afterAll(async () => {
  await deleteKeysUnder(redis, prefix);
  await redis.quit();
  await slack.receiver.close();
});

describe('alerts across many targets', () => {
  it('sends one message for all targets failing together, after two cycles, and one recovery after three', async () => {
    const { notifier, tracker } = trackerFor('together');
    const texts = () => slack.messages().map((message) => message.text);
    try {
      await tracker.reportCycle(databaseConditions(() => true));
      expect(texts()).toEqual([]);
      await tracker.reportCycle(databaseConditions(() => true));
      expect(texts()).toHaveLength(1);
      expect(texts()[0]).toContain('Database connection failed: t00, t01, t02, t03, t04 and 15 more');
      expect(slack.messages()[0]?.fields.Targets).toBe('20');
      // Still failing: the reminder is throttled, not repeated per target.
      await tracker.reportCycle(databaseConditions(() => true));
      expect(texts()).toHaveLength(1);

      await tracker.reportCycle(databaseConditions(() => false));
      await tracker.reportCycle(databaseConditions(() => false));
      expect(texts()).toHaveLength(1);
      await tracker.reportCycle(databaseConditions(() => false));
      expect(texts()).toHaveLength(2);
      expect(texts()[1]).toContain(
        'Resolved: Database connection failed: t00, t01, t02, t03, t04 and 15 more',
      );
      await tracker.reportCycle(databaseConditions(() => false));
      expect(texts()).toHaveLength(2);
    } finally {
      await notifier.close();
      slack.receiver.reset();
    }
  });

  it('never alerts for a condition that flaps between cycles', async () => {
    const { notifier, tracker } = trackerFor('flapping');
    try {
      for (let cycle = 0; cycle < 8; cycle += 1) {
        // t03 fails every other cycle: never two failing cycles in a row.
        await tracker.reportCycle(databaseConditions((target) => target === 't03' && cycle % 2 === 0));
      }
      expect(slack.messages()).toEqual([]);
    } finally {
      await notifier.close();
      slack.receiver.reset();
    }
  });

  it('names a single failing target in the message of its own', async () => {
    const { notifier, tracker } = trackerFor('single');
    try {
      await tracker.reportCycle(databaseConditions((target) => target === 't07'));
      await tracker.reportCycle(databaseConditions((target) => target === 't07'));
      expect(slack.messages().map((message) => message.key)).toEqual(['health:database:t07']);
      expect(slack.messages()[0]?.text).toContain('Database connection failed: t07');
    } finally {
      await notifier.close();
      slack.receiver.reset();
    }
  });
});

describe('cached /health/detailed', () => {
  const report = (timestamp: number): HealthReport => ({
    status: 'healthy',
    timestamp,
    services: { redis: { status: 'healthy', checked_at: new Date(timestamp * 1000).toISOString() } },
  });

  it('answers from the latest recorded cycle, shared through Redis, and degrades when it is stale', async () => {
    let probes = 0;
    const options = {
      redis,
      key: `${prefix}:probes:latest`,
      intervalMs: 1_000,
      probeNow: async () => {
        probes += 1;
        return report(Math.floor(Date.now() / 1000));
      },
    };
    const writer = createLatestHealth(options);
    const reader = createLatestHealth(options);

    // Nothing recorded yet: one probe, shared by concurrent requests.
    const [first, second] = await Promise.all([reader.detailed(), reader.detailed()]);
    expect(probes).toBe(1);
    expect(first.status).toBe('healthy');
    expect(second).toEqual(first);

    await writer.record(report(Math.floor(Date.now() / 1000)));
    expect((await reader.detailed()).status).toBe('healthy');

    await writer.record(report(Math.floor(Date.now() / 1000) - 10));
    // The reader holds nothing newer of its own, so the shared (stale) one is the answer.
    const fresh = createLatestHealth(options);
    const stale = await fresh.detailed();
    expect(stale.status).toBe('degraded');
    expect(stale.services.probes).toMatchObject({ status: 'degraded' });
    expect(String(stale.services.probes?.error)).toContain('s old');
    expect(probes).toBe(1);
  });

  it('says Redis is unhealthy at once when Redis does not answer the read, whatever the last cycle saw', async () => {
    // A real client of a port where no Redis listens: with the producer's fail-fast settings the read is refused.
    const away = createRedisConnection({ url: 'redis://127.0.0.1:1', role: 'producer' });
    away.on('error', () => undefined);
    try {
      const health = createLatestHealth({
        redis: away,
        key: `${prefix}:probes:away`,
        intervalMs: 60_000,
        probeNow: async () => report(Math.floor(Date.now() / 1000)),
      });
      await health.record(report(Math.floor(Date.now() / 1000)));
      const answer = await health.detailed();
      expect(answer.status).toBe('unhealthy');
      expect(answer.services.redis).toMatchObject({ status: 'unhealthy' });
      expect(String(answer.services.redis?.error)).toContain('redis did not answer');
    } finally {
      away.disconnect();
    }
  });
});
