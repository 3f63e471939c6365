import { createMetrics, type WardenMetrics } from '@warden/metrics';
import { type Alert, createConditionTracker, createSlackNotifier, type NotifyLogger } from '@warden/notify';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type HttpReceiver, startHttpReceiver } from './helpers/http-receiver.js';

const PREFIX = `warden-test-notify-${process.pid}-${Date.now()}:`;
const WEBHOOK_PATH = '/services/T0WARDEN/B0WARDEN/hookSecretTokenXyz123';
const DB_PASSWORD = 'Pg-Sup3r-S3cret-pw';

interface LogEntry {
  level: string;
  obj: object;
  msg?: string | undefined;
}
function recordingLogger(): NotifyLogger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const log = (level: string) => (obj: object, msg?: string) => entries.push({ level, obj, msg });
  return { entries, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

async function counterValue(metrics: WardenMetrics, outcome: string): Promise<number> {
  const { values } = await metrics.notificationsTotal.get();
  return values.find((value) => value.labels.outcome === outcome)?.value ?? 0;
}

interface SlackPayload {
  text: string;
  username?: string;
  channel?: string;
  attachments: {
    color: string;
    blocks: {
      type: string;
      text?: { text: string };
      fields?: { text: string }[];
      elements?: { text: string }[];
    }[];
  }[];
}

describe('Slack notifier against a local webhook receiver', () => {
  let receiver: HttpReceiver;
  let redisA: Redis;
  let redisB: Redis;
  let caseNo = 0;
  let keyPrefix: string;

  beforeAll(async () => {
    receiver = await startHttpReceiver();
    redisA = new Redis({ host: '127.0.0.1', port: 6379, connectionName: 'notify-test-a' });
    redisB = new Redis({ host: '127.0.0.1', port: 6379, connectionName: 'notify-test-b' });
    redisA.on('error', () => {});
    redisB.on('error', () => {});
  });
  beforeEach(() => {
    receiver.reset();
    keyPrefix = `${PREFIX}${++caseNo}:`;
  });
  afterEach(async () => {
    const keys = await redisA.keys(`${PREFIX}*`);
    if (keys.length > 0) await redisA.del(...keys);
  });
  afterAll(async () => {
    await receiver.close();
    await redisA.quit();
    await redisB.quit();
  });

  const notifierFor = (redis: Redis, extra: Partial<Parameters<typeof createSlackNotifier>[0]> = {}) => {
    const logger = recordingLogger();
    const metrics = createMetrics({ prefix: 'warden_', collectDefaultMetrics: false });
    const notifier = createSlackNotifier({
      webhookUrl: `${receiver.url}${WEBHOOK_PATH}`,
      channel: '#ops-alerts',
      botName: 'Warden Test',
      redis,
      keyPrefix,
      throttleSeconds: 600,
      logger,
      metrics,
      secrets: [DB_PASSWORD],
      timeoutMs: 2_000,
      retries: 3,
      retryBaseDelayMs: 20,
      ...extra,
    });
    return { notifier, logger, metrics };
  };
  const payloads = () => receiver.requests.map((request) => JSON.parse(request.text) as SlackPayload);

  it('sends a coloured message with emoji, fields, channel and bot name', async () => {
    const { notifier, metrics } = notifierFor(redisA);
    const outcome = await notifier.notify({
      key: 'backup-failed:main',
      level: 'error',
      title: 'Backup of main (production) failed',
      text: 'pg_dump exited with code 1',
      fields: { Target: 'main', Environment: 'production', Attempt: 3, Job: undefined },
    });
    expect(outcome).toBe('sent');
    expect(receiver.requests).toHaveLength(1);
    expect(receiver.requests[0]?.method).toBe('POST');
    expect(receiver.requests[0]?.url).toBe(WEBHOOK_PATH);
    const [payload] = payloads();
    expect(payload?.username).toBe('Warden Test');
    expect(payload?.channel).toBe('#ops-alerts');
    expect(payload?.text).toContain('Backup of main (production) failed');
    const attachment = payload?.attachments[0];
    expect(attachment?.color).toBe('#E01E5A');
    expect(attachment?.blocks[0]?.text?.text).toBe(':rotating_light: *Backup of main (production) failed*');
    expect(attachment?.blocks[1]?.text?.text).toBe('pg_dump exited with code 1');
    const fields = attachment?.blocks[2]?.fields?.map((field) => field.text);
    expect(fields).toEqual(['*Target*\nmain', '*Environment*\nproduction', '*Attempt*\n3']);
    expect(await counterValue(metrics, 'sent')).toBe(1);

    await notifier.notify({ key: 'backup-success:main:f.sql.gz', level: 'success', title: 'ok' });
    await notifier.notify({ key: 'disk', level: 'warning', title: 'disk' });
    await notifier.notify({ key: 'info', level: 'info', title: 'info' });
    expect(payloads().map((p) => p.attachments[0]?.color)).toEqual([
      '#E01E5A',
      '#2EB67D',
      '#ECB22E',
      '#36C5F0',
    ]);
    expect(payloads()[1]?.attachments[0]?.blocks[0]?.text?.text).toContain(':white_check_mark:');
    expect(payloads()[2]?.attachments[0]?.blocks[0]?.text?.text).toContain(':warning:');
  });

  it('throttles one alert key across two notifiers with separate Redis connections', async () => {
    const one = notifierFor(redisA, { throttleSeconds: 1 });
    const two = notifierFor(redisB, { throttleSeconds: 1 });
    const alert: Alert = { key: 'health:redis', level: 'error', title: 'Redis connection failed' };

    expect(await one.notifier.notify(alert)).toBe('sent');
    expect(await two.notifier.notify(alert)).toBe('suppressed');
    expect(await one.notifier.notify(alert)).toBe('suppressed');
    // Another key is independent.
    expect(await two.notifier.notify({ ...alert, key: 'health:disk:warning' })).toBe('sent');
    expect(receiver.requests).toHaveLength(2);
    expect(await counterValue(two.metrics, 'suppressed')).toBe(1);
    expect(await counterValue(one.metrics, 'suppressed')).toBe(1);

    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await two.notifier.notify(alert)).toBe('sent');
    const last = payloads().at(-1);
    expect(last?.text).toContain('2 similar alerts suppressed');
    expect(JSON.stringify(last?.attachments[0]?.blocks)).toContain('2 similar alerts suppressed');
    // The count was consumed: the next window starts from zero.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await one.notifier.notify(alert)).toBe('sent');
    expect(payloads().at(-1)?.text).not.toContain('suppressed');
  });

  it('sends "resolved" once when a condition clears, even with two processes reporting', async () => {
    const one = notifierFor(redisA);
    const two = notifierFor(redisB);
    const trackerA = createConditionTracker({ notifier: one.notifier, redis: redisA, keyPrefix });
    const trackerB = createConditionTracker({ notifier: two.notifier, redis: redisB, keyPrefix });
    const alert: Alert = { key: 'health:redis', level: 'error', title: 'Redis connection failed' };

    await trackerA.report('health:redis', true, alert);
    await trackerB.report('health:redis', true, alert); // throttled reminder
    expect(receiver.requests).toHaveLength(1);

    await Promise.all([
      trackerA.report('health:redis', false, alert),
      trackerB.report('health:redis', false, alert),
    ]);
    await trackerA.report('health:redis', false, alert);
    expect(receiver.requests).toHaveLength(2);
    const resolved = payloads()[1];
    expect(resolved?.attachments[0]?.color).toBe('#2EB67D');
    expect(resolved?.text).toContain('Resolved: Redis connection failed');
    expect(JSON.stringify(resolved)).toContain('Active for');
  });

  it('re-raises at once when a condition changes severity (warning -> critical)', async () => {
    const { notifier } = notifierFor(redisA);
    const tracker = createConditionTracker({ notifier, redis: redisA, keyPrefix });
    await tracker.report('health:disk', true, {
      key: 'health:disk:warning',
      level: 'warning',
      title: 'Disk 85 %',
    });
    await tracker.report('health:disk', true, {
      key: 'health:disk:warning',
      level: 'warning',
      title: 'Disk 86 %',
    });
    await tracker.report('health:disk', true, {
      key: 'health:disk:critical',
      level: 'error',
      title: 'Disk 95 %',
    });
    await tracker.report('health:disk', false, {
      key: 'health:disk:warning',
      level: 'warning',
      title: 'Disk 50 %',
    });
    expect(payloads().map((p) => p.text.split(' — ')[0])).toEqual([
      ':warning: Disk 85 %',
      ':rotating_light: Disk 95 %',
      ':white_check_mark: Resolved: Disk 95 %',
    ]);
  });

  it('retries a 500 and then succeeds', async () => {
    const { notifier, metrics } = notifierFor(redisA);
    receiver.script([500, 503, 200]);
    expect(await notifier.notify({ key: 'k500', level: 'info', title: 'retry me' })).toBe('sent');
    expect(receiver.requests.map((request) => request.status)).toEqual([500, 503, 200]);
    expect(await counterValue(metrics, 'sent')).toBe(1);
    expect(await counterValue(metrics, 'failed')).toBe(0);
  });

  it('retries a 429 after its Retry-After and a timed-out request', async () => {
    const { notifier } = notifierFor(redisA, { timeoutMs: 300 });
    receiver.script([{ status: 429, headers: { 'retry-after': '1' } }, { status: 200, delayMs: 1_000 }, 200]);
    const started = Date.now();
    expect(await notifier.notify({ key: 'k429', level: 'warning', title: 'rate limited' })).toBe('sent');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    expect(receiver.requests).toHaveLength(3);
  });

  it('counts and logs a permanent failure without throwing, and frees the throttle window', async () => {
    const { notifier, metrics, logger } = notifierFor(redisA);
    receiver.script([500, 500, 500, 500]);
    const alert: Alert = { key: 'backup-failed:main', level: 'error', title: 'Backup failed' };
    await expect(notifier.notify(alert)).resolves.toBe('failed');
    expect(receiver.requests).toHaveLength(4); // 1 + 3 retries
    expect(await counterValue(metrics, 'failed')).toBe(1);
    const errorLog = logger.entries.find((entry) => entry.level === 'error');
    expect(errorLog?.msg).toBe('slack notification failed');
    expect(JSON.stringify(errorLog?.obj)).toContain('500');

    // A 4xx other than 429 is not retried.
    receiver.reset();
    receiver.script([404]);
    await expect(notifier.notify(alert)).resolves.toBe('failed');
    expect(receiver.requests).toHaveLength(1);

    // The failed alert did not consume the window: it goes out once Slack is back.
    receiver.reset();
    expect(await notifier.notify(alert)).toBe('sent');
    await notifier.close();
  });

  it('never puts secrets into the payload or the logs', async () => {
    const { notifier, logger } = notifierFor(redisA);
    const webhookUrl = `${receiver.url}${WEBHOOK_PATH}`;
    await notifier.notify({
      key: 'backup-failed:main',
      level: 'error',
      title: `Backup failed for postgres://backup:${DB_PASSWORD}@db.internal:5432/app`,
      text: `connect failed: password ${DB_PASSWORD} rejected; webhook ${webhookUrl}; other postgres://x:An0therPw@h/db`,
      fields: { Error: `auth failed (${encodeURIComponent(DB_PASSWORD)})`, Webhook: webhookUrl },
    });
    receiver.script([500, 500, 500, 500]);
    await notifier.notify({ key: 'x', level: 'error', title: `again ${DB_PASSWORD}` });
    const bodies = receiver.requests.map((request) => request.text).join('\n');
    expect(bodies).toContain('[redacted]');
    expect(bodies).toContain('db.internal:5432/app');
    for (const secret of [DB_PASSWORD, WEBHOOK_PATH, 'hookSecretTokenXyz123', 'An0therPw']) {
      expect(bodies).not.toContain(secret);
      expect(JSON.stringify(logger.entries)).not.toContain(secret);
    }
  });

  it('only logs when no webhook is configured', async () => {
    const { notifier, logger, metrics } = notifierFor(redisA, { webhookUrl: undefined });
    expect(await notifier.notify({ key: 'health:disk:warning', level: 'warning', title: 'Disk 85 %' })).toBe(
      'logged',
    );
    expect(await notifier.notify({ key: 'health:disk:warning', level: 'warning', title: 'Disk 85 %' })).toBe(
      'suppressed',
    );
    expect(receiver.requests).toHaveLength(0);
    expect(logger.entries.some((entry) => entry.level === 'warn' && entry.msg === 'alert: Disk 85 %')).toBe(
      true,
    );
    expect(await counterValue(metrics, 'logged')).toBe(1);
  });

  it('still alerts, throttled in-process, when Redis is unreachable', async () => {
    const dead = new Redis({
      host: '127.0.0.1',
      port: 1,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    dead.on('error', () => {});
    const { notifier, logger } = notifierFor(dead);
    const tracker = createConditionTracker({ notifier, redis: dead, keyPrefix, logger });
    const alert: Alert = { key: 'health:redis', level: 'error', title: 'Redis connection failed' };
    await tracker.report('health:redis', true, alert);
    await tracker.report('health:redis', true, alert);
    await tracker.report('health:redis', false, alert);
    expect(payloads().map((p) => p.text.split(' — ')[0])).toEqual([
      ':rotating_light: Redis connection failed',
      ':white_check_mark: Resolved: Redis connection failed',
    ]);
    expect(logger.entries.some((entry) => entry.msg?.includes('redis unavailable'))).toBe(true);
    dead.disconnect();
  });
});
