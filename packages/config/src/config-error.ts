import type { z } from 'zod';

/** Every problem found in the configuration, reported at once (`problems`, one line each). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'WARDEN_CONFIG_INVALID';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
  }
}

/** Zod issues as `VARIABLE.path: message` lines, `prefix` naming where they were found. */
export function formatIssues(issues: z.core.$ZodIssue[], prefix = ''): string[] {
  return issues.map((issue) => {
    const where = [prefix.trim(), ...issue.path.map(String)].filter(Boolean).join('.');
    return `${where || 'config'}: ${issue.message}`;
  });
}
