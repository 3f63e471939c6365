import { scrubSecrets } from '@warden/errors';
/** Raised when a probe does not answer in time; its message is safe to show. */
export class ProbeTimeoutError extends Error {
  override readonly name = 'ProbeTimeoutError';
  readonly code = 'PROBE_TIMEOUT';
  constructor(what: string, timeoutMs: number) {
    super(`${what} did not answer within ${timeoutMs} ms`);
  }
}

/** Rejects with {@link ProbeTimeoutError} when `promise` takes longer than `timeoutMs`. */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ProbeTimeoutError(what, timeoutMs)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Milliseconds since `start` (from `performance.now()`), rounded to 2 decimals as `/health/detailed` reports them (docs/architecture.md#health). */
export function elapsedMs(start: number): number {
  return Math.round((performance.now() - start) * 100) / 100;
}

/** A short, secret-free reason for a failed probe. */
export function probeErrorMessage(error: unknown): string {
  const raw = error instanceof Error ? error.message || error.name : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  // Connection URLs may appear in driver messages; keep the host, never the password.
  const text = scrubSecrets(raw, []);
  const message = typeof code === 'string' && !text.includes(code) ? `${text} (${code})` : text;
  return message.length > 300 ? `${message.slice(0, 299)}…` : message;
}
