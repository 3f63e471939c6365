import { pgClientConfig } from '@warden/names';
import pg from 'pg';
import type { ProbeResult } from './types.js';
import { elapsedMs, probeErrorMessage, withTimeout } from './with-timeout.js';

export interface DatabaseProbeTarget {
  name: string;
  /** Connection URL; its password never appears in results. */
  url: string;
}

/**
 * Connects with a fresh client and runs `SELECT 1`. A fresh connection (not a pool) is the point:
 * it proves that a new backup could connect right now, which a pooled idle connection would not.
 */
export async function probeDatabase(target: DatabaseProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  const start = performance.now();
  const client = new pg.Client({
    ...pgClientConfig(target.url),
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
    statement_timeout: timeoutMs,
    application_name: 'warden-probe',
  });
  // An idle-client error after the probe must not become an unhandled 'error' event.
  client.on('error', () => {});
  try {
    await withTimeout(
      (async () => {
        await client.connect();
        await client.query('SELECT 1');
      })(),
      timeoutMs,
      `database ${target.name}`,
    );
    return { status: 'healthy', response_time_ms: elapsedMs(start) };
  } catch (error) {
    return { status: 'unhealthy', response_time_ms: elapsedMs(start), error: probeErrorMessage(error) };
  } finally {
    client.end().catch(() => {});
  }
}
