/** Raised when Redis does not answer in time (a worker-role client queues commands forever while down). */
export class RedisTimeoutError extends Error {
  override readonly name = 'RedisTimeoutError';
  readonly code = 'NOTIFY_REDIS_TIMEOUT';
  constructor(timeoutMs: number) {
    super(`redis did not answer within ${timeoutMs} ms`);
  }
}

export async function withRedisTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  // The abandoned command may still reject later; that must not become an unhandled rejection.
  promise.catch(() => {});
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new RedisTimeoutError(timeoutMs)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** `warden:alerts` and `warden:alerts:` both become `warden:alerts:`. */
export function withSeparator(prefix: string): string {
  return prefix === '' || prefix.endsWith(':') ? prefix : `${prefix}:`;
}
