/**
 * The AWS SDK warns on every start under Node 20 that releases after January 2027 will need Node 22.
 * Operators cannot act on it and it pollutes stderr, so exactly that warning is dropped; every other
 * warning still goes through. Called by the processes' entry points, never on import.
 */
export function silenceAwsNodeVersionWarning(): void {
  const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const text = typeof warning === 'string' ? warning : warning?.message;
    if (typeof text === 'string' && text.startsWith('NodeVersionSupportWarning')) return;
    emitWarning(warning, ...rest);
  }) as typeof process.emitWarning;
}
