import type { Logger } from '@warden/logging';
import type { Alert, Notifier } from '@warden/notify';

/**
 * A `send(alert)` that never throws: a failing Slack never fails a backup or a restore, so a
 * notification error is only logged. Without a notifier it does nothing.
 */
export function createSafeSender(
  notifier: Notifier | undefined,
  logger: Pick<Logger, 'warn'>,
): (alert: Alert) => Promise<void> {
  return async (alert) => {
    if (!notifier) return;
    try {
      await notifier.notify(alert);
    } catch (error) {
      logger.warn({ err: error, alert: alert.key }, 'notification failed');
    }
  };
}
