import type { BackupManifest } from '@warden/catalog';
import type pg from 'pg';
import { quoteIdent } from './connection.js';

/**
 * Event triggers in a dump are created near its end, and pg_dump writes statements after them
 * (REFRESH MATERIALIZED VIEW, for one): a DDL-auditing trigger then fires during the restore and
 * adds rows the backup never had. psql runs with `session_replication_role = replica`, which stops
 * event triggers and ordinary triggers alike, wherever the restoring role may set it.
 */
export interface TriggerSafety {
  /** psql runs with `session_replication_role = replica` (restore/restore-session.ts). */
  replicaRole: boolean;
}

/** Whether the connected role may set `session_replication_role` (a superuser, or granted SET). */
async function maySetReplicationRole(client: pg.Client): Promise<boolean> {
  await client.query('BEGIN');
  try {
    await client.query('SET LOCAL session_replication_role = replica');
    return true;
  } catch {
    return false;
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
}

export class EventTriggerRestoreError extends Error {
  override readonly name = 'EventTriggerRestoreError';
}

/**
 * How psql must run so that the dump's event triggers cannot fire. Throws an
 * {@link EventTriggerRestoreError} naming the triggers and the fix when the role may not stop them
 * (or a trigger is `ENABLE ALWAYS`, which replica mode does not stop).
 */
export async function planTriggerSafety(client: pg.Client, manifest: BackupManifest): Promise<TriggerSafety> {
  const triggers = manifest.event_triggers ?? [];
  const always = triggers.filter((trigger) => trigger.enabled === 'A');
  if (always.length > 0) {
    throw new EventTriggerRestoreError(
      `the backup has event trigger(s) ${always.map((t) => quoteIdent(t.name)).join(', ')} enabled ALWAYS, which fire even in replica mode and would change the restored data; disable them (ALTER EVENT TRIGGER … ENABLE) before the next backup`,
    );
  }
  if (await maySetReplicationRole(client)) return { replicaRole: true };
  const active = triggers.filter((trigger) => trigger.enabled !== 'D');
  if (active.length === 0) return { replicaRole: false };
  const { rows } = await client.query<{ role: string }>('SELECT current_user AS role');
  const role = rows[0]?.role ?? 'the restoring role';
  throw new EventTriggerRestoreError(
    `the backup has event trigger(s) ${active.map((t) => quoteIdent(t.name)).join(', ')}, which would fire while the dump is replayed, and role ${quoteIdent(role)} may not set session_replication_role to stop them; restore as a superuser, or run GRANT SET ON PARAMETER session_replication_role TO ${quoteIdent(role)} (PostgreSQL 15+)`,
  );
}
