/** A flag parser for the operator CLIs: `--name value`, `--name=value` and boolean `--flag`. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'USAGE';
}

export interface FlagSpec {
  /** Flags that take a value. */
  values: readonly string[];
  /** Flags that are on when present. */
  switches: readonly string[];
}

export function parseFlags(argv: readonly string[], spec: FlagSpec): Record<string, string | boolean> {
  const flags: Record<string, string | boolean> = {};
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index] ?? '';
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument "${arg}"`);
    const [name = '', inlineValue] = arg.slice(2).split(/=(.*)/s, 2);
    if (spec.switches.includes(name)) {
      if (inlineValue !== undefined) throw new UsageError(`--${name} takes no value`);
      flags[name] = true;
    } else if (spec.values.includes(name)) {
      const value = inlineValue ?? argv[++index];
      if (value === undefined || value === '' || value.startsWith('--')) {
        throw new UsageError(`--${name} needs a value`);
      }
      flags[name] = value;
    } else {
      const known = [...spec.values, ...spec.switches].map((flag) => `--${flag}`).join(', ');
      throw new UsageError(`unknown option --${name} (known: ${known || 'none'})`);
    }
  }
  return flags;
}
