/**
 * healthchecks.io-style dead-man pings: a plain GET to a per-check URL at the start of a scheduled
 * backup, after a good one and after a failed one. The outside monitor alerts when the pings stop,
 * which notices a Warden that is down altogether. A ping never fails or delays a backup for long.
 */
export interface DeadmanUrls {
  start?: string | undefined;
  success?: string | undefined;
  fail?: string | undefined;
}

export type DeadmanEvent = keyof DeadmanUrls;

export function createDeadmanPinger(options: {
  urlsOf: (target: string) => DeadmanUrls | undefined;
  timeoutMs?: number;
  onError?: (error: unknown, context: { target: string; event: DeadmanEvent }) => void;
}) {
  const timeoutMs = options.timeoutMs ?? 5_000;
  return async function ping(target: string, event: DeadmanEvent): Promise<void> {
    const url = options.urlsOf(target)?.[event];
    if (!url) return;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      await response.body?.cancel();
      if (!response.ok) throw new Error(`dead-man ping answered HTTP ${response.status}`);
    } catch (error) {
      // The URL carries the check's token: only the event and target are reported.
      options.onError?.(
        error instanceof Error ? new Error(error.message.replace(url, '[redacted]')) : error,
        {
          target,
          event,
        },
      );
    }
  };
}
