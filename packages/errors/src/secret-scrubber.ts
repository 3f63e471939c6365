import { errorMessage } from './error-message.js';

export const REDACTED = '[redacted]';

/**
 * Patterns that are secret whatever the configuration says: passwords inside connection URLs
 * (`postgres://user:pw@host`, `redis://:pw@host`), libpq `password=` settings (pg_dump and libpq
 * echo connection strings back in some messages), Slack webhook paths and Sentry DSN keys.
 */
const GENERIC_PATTERNS: [RegExp, string][] = [
  [/([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)([^\s@/]+)@/gi, `$1${REDACTED}@`],
  [/(password\s*=\s*)('[^']*'|\S+)/gi, `$1${REDACTED}`],
  [/https:\/\/hooks\.slack\.com\/[^\s"'<>]+/gi, `https://hooks.slack.com/${REDACTED}`],
  [/(https?:\/\/)[0-9a-f]{16,}@/gi, `$1${REDACTED}@`],
];

/**
 * The one secret scrubber: replaces known secret values (raw, URI-encoded and decoded) and the
 * generic secret patterns in free text, such as error messages of drivers, SDKs and subprocesses
 * that end up in logs, job failures, Slack messages or Sentry events. Callers choose the secrets;
 * the configuration's list (`collectSecrets`) leaves out values too short to replace blindly.
 */
export function createSecretScrubber(secrets: readonly (string | undefined)[]): (text: string) => string {
  const values = [
    ...new Set(
      secrets
        .filter((secret): secret is string => typeof secret === 'string' && secret.length > 0)
        .flatMap((secret) => {
          const variants = [secret];
          try {
            const decoded = decodeURIComponent(secret);
            if (decoded !== secret) variants.push(decoded);
          } catch {
            // Not URI-encoded; the raw value is enough.
          }
          const encoded = encodeURIComponent(secret);
          if (encoded !== secret) variants.push(encoded);
          return variants;
        }),
    ),
    // Longest first, so that a secret containing another is replaced whole.
  ].sort((a, b) => b.length - a.length);

  return (text: string) => {
    let scrubbed = text;
    for (const secret of values) scrubbed = scrubbed.split(secret).join(REDACTED);
    for (const [pattern, replacement] of GENERIC_PATTERNS) scrubbed = scrubbed.replace(pattern, replacement);
    return scrubbed;
  };
}

/** Applies a scrubber to every string inside a JSON-like value (objects, arrays), returning a copy. */
export function scrubDeep<T>(value: T, scrub: (text: string) => string, depth = 0): T {
  if (typeof value === 'string') return scrub(value) as T;
  if (depth > 20 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => scrubDeep(item, scrub, depth + 1)) as T;
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) copy[key] = scrubDeep(item, scrub, depth + 1);
  return copy as T;
}

/** A plain, secret-free description of an unknown thrown value. */
export function describeError(error: unknown, scrub: (text: string) => string): string {
  if (error instanceof Error) return scrub(`${error.name}: ${error.message}`);
  return scrub(String(error));
}

/** {@link createSecretScrubber} applied once. */
export function scrubSecrets(text: string, secrets: readonly (string | undefined)[]): string {
  return createSecretScrubber(secrets)(text);
}

/** A copy of a driver error that keeps its `code` (SQLSTATE, errno) but no text that could hold a secret. */
export function scrubError(error: unknown, secrets: readonly (string | undefined)[]): Error {
  const scrubbed = new Error(scrubSecrets(errorMessage(error), secrets));
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') Object.assign(scrubbed, { code });
  return scrubbed;
}
