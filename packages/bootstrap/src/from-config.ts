import { hostname } from 'node:os';
import { collectSecrets, type WardenConfig } from '@warden/config';
import {
  type AlertHistory,
  createAlertHistory,
  createSentryReporter,
  createSlackNotifier,
  type ErrorReporter,
  type Notifier,
  type NotifyLogger,
  type SlackNotifierOptions,
  withAlertHistory,
} from '@warden/notify';

/** Options of {@link createErrorReporterFromConfig}. */
export interface ErrorReporterFromConfigOptions {
  logger: NotifyLogger;
  /** Added to every event, e.g. `{ service: 'api' }`. */
  tags?: Record<string, string> | undefined;
}

/** The Sentry reporter for this host, configured by `SENTRY_*`; it scrubs every configured secret. */
export function createErrorReporterFromConfig(
  config: WardenConfig,
  options: ErrorReporterFromConfigOptions,
): ErrorReporter {
  return createSentryReporter({
    dsn: config.sentry.dsn,
    environment: config.sentry.environment,
    release: config.release,
    tracesSampleRate: config.sentry.tracesSampleRate,
    serverName: hostname(),
    secrets: collectSecrets(config),
    logger: options.logger,
    tags: options.tags,
  });
}

/**
 * Where throttle windows and condition state live in Redis: under the queue prefix, so the API and
 * every worker share them (docs/architecture.md#alerts).
 */
export function alertKeyPrefix(config: WardenConfig): string {
  return `${config.redis.queuePrefix}:alerts`;
}

/** Options of {@link createSlackNotifierFromConfig}. */
export interface SlackNotifierFromConfigOptions {
  /** Holds the shared throttle windows. Injected: never closed by the notifier. */
  redis: SlackNotifierOptions['redis'];
  logger: NotifyLogger;
  metrics?: SlackNotifierOptions['metrics'];
}

/** The recent alerts of every process, kept in Redis beside the throttle windows (the console lists them). */
export function createAlertHistoryFromConfig(
  config: WardenConfig,
  redis: SlackNotifierOptions['redis'],
): AlertHistory {
  return createAlertHistory({ redis, keyPrefix: alertKeyPrefix(config) });
}

/**
 * The Slack notifier configured by `SLACK_*` and `ALERT_THROTTLE_SECONDS`; it scrubs every configured
 * secret, and records each alert it handles in the alert history.
 */
export function createSlackNotifierFromConfig(
  config: WardenConfig,
  options: SlackNotifierFromConfigOptions,
): Notifier {
  const slack = createSlackNotifier({
    webhookUrl: config.slack.webhookUrl,
    channel: config.slack.channel,
    botName: config.slack.botName,
    redis: options.redis,
    keyPrefix: alertKeyPrefix(config),
    throttleSeconds: config.alerts.throttleSeconds,
    logger: options.logger,
    metrics: options.metrics,
    secrets: collectSecrets(config),
  });
  return withAlertHistory(slack, createAlertHistoryFromConfig(config, options.redis), {
    secrets: collectSecrets(config),
  });
}
