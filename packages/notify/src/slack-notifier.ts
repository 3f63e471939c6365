import { type FetchFunction, IncomingWebhook, IncomingWebhookHTTPError } from '@slack/webhook';
import { createSecretScrubber, describeError } from '@warden/errors';
import type { Cluster, Redis } from 'ioredis';
import { buildSlackMessage } from './slack-message.js';
import { createAlertThrottle } from './throttle.js';
import type { Alert, NotificationCounter, Notifier, NotifyLogger, NotifyOutcome } from './types.js';

/** Options of {@link createSlackNotifier}. */
export interface SlackNotifierOptions {
  /** `SLACK_WEBHOOK_URL`; without it notifications are only logged (outcome `logged`). */
  webhookUrl?: string | undefined;
  /** `SLACK_DEFAULT_CHANNEL`; the webhook's own channel when unset. */
  channel?: string | undefined;
  /** `SLACK_BOT_NAME`, shown as the message's user name. */
  botName: string;
  /** Shared by every process so throttling is global (docs/architecture.md#alerts). Injected: never closed here. */
  redis: Redis | Cluster;
  /** Namespace of the throttle keys in Redis, e.g. `warden:alerts` (a `:` is appended when missing). */
  keyPrefix: string;
  /** `ALERT_THROTTLE_SECONDS`: the same alert key at most once per window; 0 disables. */
  throttleSeconds: number;
  logger: NotifyLogger;
  /** Structurally `WardenMetrics['notificationsTotal']`. */
  metrics?: { notificationsTotal: NotificationCounter } | undefined;
  /** Secret values scrubbed from every message (the webhook URL itself is always added). */
  secrets?: readonly string[] | undefined;
  /** Per HTTP attempt. @defaultValue 5000 */
  timeoutMs?: number | undefined;
  /** Extra attempts after a timeout, network error, 429 or 5xx. @defaultValue 3 */
  retries?: number | undefined;
  /** Bound on each Redis round trip of the throttle. @defaultValue 2000 */
  redisTimeoutMs?: number | undefined;
  /** First back-off; doubles per retry, capped at 5 s (429 honours `Retry-After`, capped at 10 s). @defaultValue 500 */
  retryBaseDelayMs?: number | undefined;
}

const MAX_BACKOFF_MS = 5_000;
const MAX_RETRY_AFTER_MS = 10_000;
const CHANNEL = 'slack';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The Slack adapter (docs/architecture.md#alerts). @slack/webhook 8 does not retry by default and never retries a
 * 429 (docs/architecture.md#library-traps), so the SDK runs with `retries: 0` and this module retries timeouts, network
 * errors, 429 (honouring `Retry-After`) and 5xx itself. Errors are logged and counted, never thrown.
 */
export function createSlackNotifier(options: SlackNotifierOptions): Notifier {
  const { logger, metrics } = options;
  const scrub = createSecretScrubber([...(options.secrets ?? []), options.webhookUrl]);
  const throttle = createAlertThrottle({
    redis: options.redis,
    keyPrefix: options.keyPrefix,
    throttleSeconds: options.throttleSeconds,
    ...(options.redisTimeoutMs === undefined ? {} : { redisTimeoutMs: options.redisTimeoutMs }),
    onRedisError: (error) =>
      logger.warn(
        { error: describeError(error, scrub) },
        'alert throttle: redis unavailable, throttling in-process',
      ),
  });
  const retries = Math.max(0, options.retries ?? 3);
  const baseDelay = Math.max(0, options.retryBaseDelayMs ?? 500);

  const webhookUrl = options.webhookUrl;
  /**
   * One SDK client per delivery, so that the `Retry-After` seen by its fetch belongs to this delivery
   * only (the SDK's HTTP error does not expose response headers).
   */
  const createWebhook = (url: string) => {
    const state: { retryAfterMs?: number | undefined } = {};
    const fetchWithRetryAfter: FetchFunction = async (input, init) => {
      const response = await globalThis.fetch(input, init as RequestInit);
      const seconds = Number(response.headers.get('retry-after') ?? Number.NaN);
      state.retryAfterMs = Number.isFinite(seconds) ? seconds * 1000 : undefined;
      return response;
    };
    const client = new IncomingWebhook(url, {
      timeout: options.timeoutMs ?? 5_000,
      retryConfig: { retries: 0 },
      fetch: fetchWithRetryAfter,
    });
    return { client, state };
  };

  const pending = new Set<Promise<unknown>>();
  const count = (outcome: NotifyOutcome) => {
    try {
      metrics?.notificationsTotal.inc({ channel: CHANNEL, outcome });
    } catch {
      // A metrics bug must not turn into a notification failure.
    }
  };

  const scrubAlert = (alert: Alert): Alert => ({
    key: scrub(alert.key),
    level: alert.level,
    title: scrub(alert.title),
    ...(alert.text === undefined ? {} : { text: scrub(alert.text) }),
    ...(alert.fields === undefined
      ? {}
      : {
          fields: Object.fromEntries(
            Object.entries(alert.fields).map(([name, value]) => [
              scrub(name),
              typeof value === 'string' ? scrub(value) : value,
            ]),
          ),
        }),
  });

  async function deliver(
    alert: Alert,
    suppressed: number,
  ): Promise<{ ok: true } | { ok: false; error: string }> {
    if (!webhookUrl) return { ok: true };
    const webhook = createWebhook(webhookUrl);
    const message = buildSlackMessage(alert, {
      suppressed,
      channel: options.channel,
      botName: options.botName,
    });
    let lastError = 'unknown error';
    for (let attempt = 0; attempt <= retries; attempt++) {
      webhook.state.retryAfterMs = undefined;
      try {
        await webhook.client.send(message);
        return { ok: true };
      } catch (err) {
        lastError = describeError(err, scrub);
        const status = err instanceof IncomingWebhookHTTPError ? err.statusCode : undefined;
        const retryable = status === undefined || status === 429 || status >= 500;
        if (!retryable || attempt === retries) break;
        const backoff = Math.min(baseDelay * 2 ** attempt, MAX_BACKOFF_MS);
        const wait =
          status === 429 && webhook.state.retryAfterMs !== undefined
            ? Math.min(webhook.state.retryAfterMs, MAX_RETRY_AFTER_MS)
            : backoff;
        logger.warn(
          { alertKey: alert.key, attempt: attempt + 1, status, retryInMs: wait, error: lastError },
          'slack notification failed, retrying',
        );
        await sleep(wait);
      }
    }
    return { ok: false, error: lastError };
  }

  async function notify(raw: Alert): Promise<NotifyOutcome> {
    let alert: Alert;
    try {
      alert = scrubAlert(raw);
    } catch {
      alert = { key: 'invalid-alert', level: 'error', title: 'An alert could not be formatted' };
    }

    const decision = await throttle.acquire(alert.key);
    if (!decision.send) {
      logger.debug({ alertKey: alert.key }, 'alert suppressed by throttle');
      count('suppressed');
      return 'suppressed';
    }

    if (!webhookUrl) {
      const log = alert.level === 'error' || alert.level === 'warning' ? logger.warn : logger.info;
      log.call(
        logger,
        {
          alertKey: alert.key,
          level: alert.level,
          text: alert.text,
          fields: alert.fields,
          suppressed: decision.suppressed,
        },
        `alert: ${alert.title}`,
      );
      count('logged');
      return 'logged';
    }

    const result = await deliver(alert, decision.suppressed);
    if (result.ok) {
      logger.info(
        { alertKey: alert.key, level: alert.level, suppressed: decision.suppressed },
        'slack notification sent',
      );
      count('sent');
      return 'sent';
    }
    logger.error(
      {
        alertKey: alert.key,
        level: alert.level,
        title: alert.title,
        error: result.error,
        attempts: retries + 1,
      },
      'slack notification failed',
    );
    count('failed');
    await throttle.release(alert.key, decision.suppressed);
    return 'failed';
  }

  return {
    notify(alert) {
      const promise = notify(alert).catch((err: unknown) => {
        // Defensive: notify() is written not to throw, but the contract (docs/architecture.md#alerts) must hold regardless.
        logger.error({ error: describeError(err, scrub) }, 'notification failed unexpectedly');
        count('failed');
        return 'failed' as const;
      });
      pending.add(promise);
      void promise.finally(() => pending.delete(promise));
      return promise;
    },
    async close() {
      await Promise.allSettled([...pending]);
    },
  };
}
