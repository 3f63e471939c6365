export {
  type AlertHistory,
  type AlertHistoryOptions,
  type AlertRecord,
  createAlertHistory,
  withAlertHistory,
} from './alert-history.js';
export { type BackgroundNotifierOptions, createBackgroundNotifier } from './background-notifier.js';
export {
  type BackupAlertTarget,
  type BackupFailureInfo,
  type BackupSuccessInfo,
  backupAlerts,
  type IntegrityFailureInfo,
  type RestoreResultInfo,
  type RestoreTestFailedInfo,
  type UploadFailureInfo,
} from './backup-alerts.js';
export {
  type ConditionGroup,
  type ConditionTracker,
  type ConditionTrackerOptions,
  type CycleCondition,
  createConditionTracker,
} from './condition-tracker.js';
export { RedisTimeoutError, withRedisTimeout } from './redis-timeout.js';
export {
  createSentryReporter,
  type ErrorReporter,
  installProcessErrorHandlers,
  type ProcessErrorHandlerOptions,
  type SentryReporterOptions,
} from './sentry-reporter.js';
export { buildSlackMessage, LEVEL_STYLE, type SlackMessageOptions } from './slack-message.js';
export { createSlackNotifier, type SlackNotifierOptions } from './slack-notifier.js';
export { type AlertThrottle, type AlertThrottleOptions, createAlertThrottle } from './throttle.js';
export type {
  Alert,
  AlertLevel,
  NotificationCounter,
  Notifier,
  NotifyLogger,
  NotifyOutcome,
} from './types.js';
