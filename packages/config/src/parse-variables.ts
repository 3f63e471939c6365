import type { z } from 'zod';
import { formatIssues } from './config-error.js';
import type { Env } from './env-interpolation.js';
import { envSchema, type WardenEnv } from './schema.js';

/**
 * Parses variable by variable so one bad value does not hide the others: a failing variable is
 * reported and replaced by its default, and the cross-variable checks still run.
 */
export function parseEachVariable(env: Env, problems: string[]): WardenEnv {
  const values: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(envSchema.shape)) {
    // An empty value (`FOO=` in an env file) means "not set", as in the shipped .env.example.
    const raw = env[name] === '' ? undefined : env[name];
    const result = (schema as z.ZodType).safeParse(raw);
    if (result.success) {
      values[name] = result.data;
    } else {
      problems.push(...formatIssues(result.error.issues, name));
      const fallback = (schema as z.ZodType).safeParse(undefined);
      values[name] = fallback.success ? fallback.data : undefined;
    }
  }
  return values as WardenEnv;
}
