export const REDACTED = '[redacted]';

/** Secrets shorter than this are too likely to match ordinary words to be replaced blindly. */
const MIN_SECRET_LENGTH = 4;

/**
 * Patterns that are secret whatever the configuration says: passwords inside connection URLs
 * (`postgres://user:pw@host`, `redis://:pw@host`), Slack webhook paths and Sentry DSN keys.
 */
const GENERIC_PATTERNS: [RegExp, string][] = [
  [/([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)([^\s@/]+)@/gi, `$1${REDACTED}@`],
  [/https:\/\/hooks\.slack\.com\/[^\s"'<>]+/gi, `https://hooks.slack.com/${REDACTED}`],
  [/(https?:\/\/)[0-9a-f]{16,}@/gi, `$1${REDACTED}@`],
];

/**
 * Builds a scrubber that replaces known secret values (and URL-embedded passwords) in free text,
 * such as error messages of drivers and SDKs that end up in Slack messages or Sentry events.
 */
export function createSecretScrubber(secrets: readonly (string | undefined)[]): (text: string) => string {
  const values = [
    ...new Set(
      secrets
        .filter(
          (secret): secret is string => typeof secret === 'string' && secret.length >= MIN_SECRET_LENGTH,
        )
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
          return variants.filter((variant) => variant.length >= MIN_SECRET_LENGTH);
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
