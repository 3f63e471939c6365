/** The environment as `loadConfig` receives it. */
export type Env = Record<string, string | undefined>;

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const URL_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/**
 * Replaces `${NAME}` with the environment's value in the string values of a parsed targets file,
 * so passwords can stay out of the file. It runs after parsing, on string values only (never on
 * keys, numbers or booleans), so no value can add a key, a target or any other structure.
 *
 * Inside a URL (a value starting with `scheme://`), a reference that is only part of the value is
 * percent-encoded: a password holding `@`, `#`, `:`, `/`, quotes or a newline reaches the server
 * exactly as the variable holds it. A reference that is the whole value is used as it is (the
 * variable then holds the whole URL).
 */
export function interpolateEnv(value: unknown, env: Env, problems: string[], file: string): unknown {
  if (typeof value === 'string') return interpolateString(value, env, problems, file);
  if (Array.isArray(value)) return value.map((item) => interpolateEnv(item, env, problems, file));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, interpolateEnv(item, env, problems, file)]),
    );
  }
  return value;
}

function interpolateString(text: string, env: Env, problems: string[], file: string): string {
  const insideUrl = URL_SCHEME.test(text);
  return text.replace(REFERENCE, (match, name: string) => {
    const value = env[name];
    if (value === undefined) {
      problems.push(`WARDEN_CONFIG (${file}): references \${${name}} which is not set`);
      return '';
    }
    return insideUrl && match !== text ? encodeURIComponent(value) : value;
  });
}
