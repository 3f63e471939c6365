/**
 * SLACK_SUCCESS_MODE and dead-man pings through the worker's backup events, with the real Redis, a
 * local Slack receiver and a local receiver standing in for the outside dead-man monitor.
 */
import { createLogger } from '@warden/logging';
import { createSlackNotifier } from '@warden/notify';
import { createRedisConnection } from '@warden/queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackupEvents, startOverdueDigestSweep } from '../apps/worker/src/backup-events.js';
import { createDeadmanPinger } from '../apps/worker/src/deadman.js';
import { createSuccessDigest } from '../apps/worker/src/success-digest.js';
import { type SlackReceiver, startSlackReceiver } from './helpers/alerts-receivers.js';
import { makeTarget, uniquePrefix } from './helpers/api-fixtures.js';
import { type HttpReceiver, startHttpReceiver } from './helpers/http-receiver.js';
import { deleteKeysUnder } from './helpers/queues.js';

const prefix = uniquePrefix('success-digest');
const redis = createRedisConnection({ url: 'redis://127.0.0.1:6379', role: 'worker' });
redis.on('error', () => undefined);
const logger = createLogger({ service: 'success-digest-test', level: 'silent' });
const targets = ['a', 'b', 'c'].map((name) => makeTarget(name, { schedule: '0 3 * * *' }));
let slack: SlackReceiver;
let monitor: HttpReceiver;

const manifestOf = (
  target: string,
  bytes: number,
  durationMs: number,
  trigger = 'schedule',
  day = '2026-12-01',
) =>
  ({
    filename: `${target}_test_${day.replaceAll('-', '')}_030000.sql.gz`,
    size_mb: bytes / 1024 / 1024,
    bytes,
    duration_ms: durationMs,
    started_at: `${day}T03:00:05.000Z`,
    finished_at: `${day}T03:00:09.000Z`,
    trigger,
  }) as never;

function eventsFor(mode: 'each' | 'digest' | 'off', name: string) {
  const keyPrefix = `${prefix}:${name}`;
  const notifier = createSlackNotifier({
    webhookUrl: slack.webhookUrl,
    botName: 'Warden',
    redis,
    keyPrefix,
    throttleSeconds: 600,
    logger,
  });
  const deadman = createDeadmanPinger({
    urlsOf: (target) => ({
      start: `${monitor.url}/ping/${target}/start`,
      success: `${monitor.url}/ping/${target}`,
      fail: `${monitor.url}/ping/${target}/fail`,
    }),
  });
  const events = createBackupEvents({
    logger,
    notifier,
    successMode: mode,
    digest: createSuccessDigest({ redis, keyPrefix, targets }),
    deadman,
  });
  return { events, notifier, deadman, keyPrefix };
}

beforeAll(async () => {
  slack = await startSlackReceiver();
  monitor = await startHttpReceiver();
});
afterAll(async () => {
  await deleteKeysUnder(redis, prefix);
  await redis.quit();
  await slack.receiver.close();
  await monitor.close();
});

describe('SLACK_SUCCESS_MODE', () => {
  it('digest: one message for the window once every target finished, failures at once', async () => {
    const { events, notifier } = eventsFor('digest', 'digest');
    const [a, b, c] = targets as [(typeof targets)[0], (typeof targets)[0], (typeof targets)[0]];
    await events.backupSucceeded(a, manifestOf('a', 10 * 1024 * 1024, 4_000), {});
    await events.backupFailed(b, new Error('pg_dump exited 1'), {
      trigger: 'schedule',
      startedAt: '2026-12-01T03:00:06.000Z',
    });
    await notifier.close();
    // The failure is out at once; no success message yet.
    expect(slack.messages().map((message) => message.key)).toEqual(['backup-failed:b']);
    await events.backupSucceeded(c, manifestOf('c', 30 * 1024 * 1024, 9_000), {});
    // A manual backup is reported on its own, never held for a window.
    await events.backupSucceeded(a, manifestOf('a', 1024, 100, 'api'), {});
    await notifier.close();
    const keys = slack.messages().map((message) => message.key);
    expect(keys).toHaveLength(3);
    const digest = slack.messages().find((message) => message.key.startsWith('backup-digest:'));
    expect(digest?.text).toContain('Backups of the run at 2026-12-01T03:00:00.000Z: 2 of 3 succeeded');
    expect(digest?.text).toContain('Failed: b');
    expect(digest?.fields).toMatchObject({ Succeeded: '2', Failed: '1', 'Total size': '40.0 MB' });
    expect(digest?.fields.Slowest).toContain('c');
    expect(keys.filter((key) => key.startsWith('backup-success:'))).toHaveLength(1);
    slack.receiver.reset();
  });

  it('digest: a window whose last target never reports is sent at its next run, once, naming it', async () => {
    const { events, notifier, keyPrefix } = eventsFor('digest', 'overdue');
    const [a, b, c] = targets as [(typeof targets)[0], (typeof targets)[0], (typeof targets)[0]];
    // A window of a past day, so its deadline (the next day's run) is already over.
    await events.backupSucceeded(a, manifestOf('a', 1024 * 1024, 1_000, 'schedule', '2026-11-20'), {});
    await events.backupFailed(b, new Error('pg_dump exited 1'), {
      trigger: 'schedule',
      startedAt: '2026-11-20T03:00:06.000Z',
    });
    await notifier.close();
    expect(slack.messages().map((message) => message.key)).toEqual(['backup-failed:b']);

    // Two workers sweep at once: the window is closed and sent by one of them only.
    const second = createSuccessDigest({ redis, keyPrefix, targets });
    const stops = [
      startOverdueDigestSweep({ digest: second, notifier, logger, intervalMs: 50 }),
      startOverdueDigestSweep({
        digest: createSuccessDigest({ redis, keyPrefix, targets }),
        notifier,
        logger,
        intervalMs: 50,
      }),
    ];
    await expect
      .poll(async () => {
        await notifier.close();
        return slack.messages().filter((message) => message.key.startsWith('backup-digest:')).length;
      })
      .toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const stop of stops) stop();
    await notifier.close();
    const digests = slack.messages().filter((message) => message.key.startsWith('backup-digest:'));
    expect(digests).toHaveLength(1);
    expect(digests[0]?.text).toContain('Backups of the run at 2026-11-20T03:00:00.000Z: 1 of 3 succeeded');
    expect(digests[0]?.text).toContain('Failed: b');
    expect(digests[0]?.text).toContain('Not reported by the next run: c');
    expect(digests[0]?.fields).toMatchObject({ 'Not reported': '1' });

    // The straggler arrives after its window was closed: it is reported on its own, not lost.
    await events.backupSucceeded(c, manifestOf('c', 1024, 100, 'schedule', '2026-11-20'), {});
    await notifier.close();
    expect(slack.messages().map((message) => message.key)).toContain(
      'backup-success:c:c_test_20261120_030000.sql.gz',
    );
    slack.receiver.reset();
  });

  it('off: no success messages; each: one per backup', async () => {
    const off = eventsFor('off', 'off');
    await off.events.backupSucceeded(targets[0] as never, manifestOf('a', 1024, 100), {});
    await off.notifier.close();
    expect(slack.messages()).toEqual([]);
    const each = eventsFor('each', 'each');
    await each.events.backupSucceeded(targets[0] as never, manifestOf('a', 1024, 100), {});
    await each.notifier.close();
    expect(slack.messages().map((message) => message.key)).toEqual([
      'backup-success:a:a_test_20261201_030000.sql.gz',
    ]);
    slack.receiver.reset();
  });
});

describe('dead-man pings', () => {
  it('pings success and fail URLs, and start through the pinger', async () => {
    monitor.reset();
    const { events, notifier, deadman } = eventsFor('off', 'deadman');
    await deadman('a', 'start');
    await events.backupSucceeded(targets[0] as never, manifestOf('a', 1024, 100), {});
    await events.backupFailed(targets[1] as never, new Error('boom'), {});
    await notifier.close();
    expect(monitor.requests.map((request) => request.url)).toEqual([
      '/ping/a/start',
      '/ping/a',
      '/ping/b/fail',
    ]);
  });

  it('never throws when the monitor is down, and keeps its URL out of the error', async () => {
    const errors: string[] = [];
    const ping = createDeadmanPinger({
      urlsOf: () => ({ success: 'http://127.0.0.1:1/secret-check-uuid' }),
      timeoutMs: 1_000,
      onError: (error) => errors.push(String(error)),
    });
    await expect(ping('a', 'success')).resolves.toBeUndefined();
    expect(errors).toHaveLength(1);
    expect(errors[0]).not.toContain('secret-check-uuid');
  });
});
