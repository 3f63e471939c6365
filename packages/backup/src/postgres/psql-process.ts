import { execa } from 'execa';

/**
 * Starts psql (or `stdbuf … psql`) talking through pipes on all three streams, its failure a
 * result rather than an exception, killed when `signal` aborts. Connection settings, database
 * included, travel in libpq's environment: argv is visible to every local user, and a `-d` value
 * containing "=" would be read as a connection string.
 */
export function spawnPsql(
  file: string,
  args: readonly string[],
  env: Record<string, string>,
  signal: AbortSignal,
) {
  return execa(file, args, {
    env,
    buffer: false,
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    reject: false,
    cancelSignal: signal,
  });
}
