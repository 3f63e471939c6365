/** docs/architecture.md#alerts levels; each has a colour and an emoji in Slack. */
export type AlertLevel = 'error' | 'warning' | 'info' | 'success';

/** One notification. `key` identifies "the same alert" for throttling (docs/architecture.md#alerts). */
export interface Alert {
  /** Throttle identity, e.g. `backup-failed:<target>` or `health:redis`. Never contains secrets. */
  key: string;
  level: AlertLevel;
  title: string;
  text?: string;
  /** Shown as Slack fields, in insertion order; `undefined` values are left out. */
  fields?: Record<string, string | number | undefined>;
}

/** What became of one notification. */
/** `queued`: handed to a background notifier, delivered later. */
export type NotifyOutcome = 'sent' | 'suppressed' | 'failed' | 'logged' | 'queued';

export interface Notifier {
  /** Never throws: a failing Slack must never fail a backup (docs/architecture.md#alerts). */
  notify(alert: Alert): Promise<NotifyOutcome>;
  close(): Promise<void>;
}

/** The subset of a pino logger this package uses (structural, so any pino `Logger` fits). */
export interface NotifyLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/**
 * The one metric this package updates; structurally a prom-client `Counter<'channel'|'outcome'>`
 * (the `notificationsTotal` of `@warden/metrics`, which this package does not import).
 */
export interface NotificationCounter {
  inc(labels: { channel: string; outcome: string }, value?: number): void;
}
