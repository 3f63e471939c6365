import type { Alert, Notifier, NotifyLogger, NotifyOutcome } from './types.js';

export interface BackgroundNotifierOptions {
  logger: NotifyLogger;
  /** How long `close()` waits for deliveries still in flight. @defaultValue 15000 */
  closeTimeoutMs?: number;
}

/**
 * Delivers notifications without making the caller wait: a Slack that accepts connections but never
 * answers would otherwise hold every job for the notifier's whole retry budget. `close()` waits (up
 * to a deadline) for what is still in flight, so a CLI or a stopping worker does not lose messages.
 */
export function createBackgroundNotifier(inner: Notifier, options: BackgroundNotifierOptions): Notifier {
  const inFlight = new Set<Promise<NotifyOutcome>>();
  return {
    async notify(alert: Alert): Promise<NotifyOutcome> {
      const delivery = inner.notify(alert).catch((error: unknown) => {
        options.logger.warn({ err: error, alert: alert.key }, 'notification failed');
        return 'failed' as const;
      });
      inFlight.add(delivery);
      void delivery.finally(() => inFlight.delete(delivery));
      return 'queued';
    },
    async close() {
      if (inFlight.size > 0) {
        await Promise.race([
          Promise.allSettled([...inFlight]),
          new Promise((resolve) => setTimeout(resolve, options.closeTimeoutMs ?? 15_000).unref()),
        ]);
      }
      await inner.close();
    },
  };
}
