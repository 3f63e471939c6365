import type { EventTriggerRecord } from '@warden/catalog';
import type pg from 'pg';

/**
 * What a restore must know or prove beyond pg_dump's SQL, read from the connected database: its
 * event triggers and a digest of its large objects (its comment and settings: see
 * database-properties.ts). The backup reads them inside the dump's snapshot; a restore reads the
 * large objects again from the restored database and compares.
 */

export async function readEventTriggers(client: pg.Client): Promise<EventTriggerRecord[]> {
  const { rows } = await client.query<EventTriggerRecord>(
    'SELECT evtname AS name, evtenabled AS enabled FROM pg_event_trigger ORDER BY 1',
  );
  return rows;
}

/** Count and digest (md5 per object, in OID order; pg_dump keeps OIDs) of the large objects. */
export async function readLargeObjects(client: pg.Client): Promise<{ count: number; digest: string }> {
  const { rows } = await client.query<{ count: string; digest: string }>(
    `SELECT count(*)::text AS count,
            coalesce(md5(string_agg(m.oid::text || ':' || md5(lo_get(m.oid)), ',' ORDER BY m.oid)), '') AS digest
       FROM pg_largeobject_metadata m`,
  );
  return { count: Number(rows[0]?.count ?? 0), digest: rows[0]?.digest ?? '' };
}
