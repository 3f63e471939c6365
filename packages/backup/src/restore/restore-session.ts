import type { TriggerSafety } from '../postgres/event-trigger-safety.js';

/**
 * The session psql replays a dump in. The dump is loaded statement by statement (psql's
 * autocommit), not in one transaction: one transaction would create and lock every table, index
 * and sequence at once, and a schema of a few thousand tables exhausts the server's shared lock
 * table (`max_locks_per_transaction` × connections) with "out of shared memory". Atomicity is not
 * needed there: the restore writes into a new database that it drops on any failure and swaps in
 * (or drops, after a restore test) only after the proof.
 *
 * `synchronous_commit=off`: the thousands of small commits then do not each wait for a WAL flush.
 * Nothing is lost by it: the load ends with one synchronous commit ({@link DURABLE_END}), which
 * flushes the WAL of every commit before it, before the restore goes on to the proof.
 */
const ASYNC_COMMIT = '-c synchronous_commit=off';
/** Stops event triggers and ordinary triggers while the dump is replayed (see event-trigger-safety.ts). */
const REPLICA_ROLE = '-c session_replication_role=replica';

/**
 * Statements the main psql session runs after the whole dump, once the stream checked good and
 * every data session's COPYs committed: a transaction that is given a transaction ID writes a
 * commit record, and committing it synchronously flushes the WAL up to that record, so every
 * earlier (asynchronous) commit of the load, in any session, is durable once psql exits.
 */
export const DURABLE_END = 'SET synchronous_commit = on;\nSELECT pg_catalog.txid_current();\n';

/** psql's environment for the replay: the session's settings appended to the connection's `PGOPTIONS`. */
export function restoreSessionEnv(
  env: Record<string, string>,
  triggerSafety: TriggerSafety,
): Record<string, string> {
  const options = [ASYNC_COMMIT, ...(triggerSafety.replicaRole ? [REPLICA_ROLE] : [])].join(' ');
  return { ...env, PGOPTIONS: env.PGOPTIONS ? `${env.PGOPTIONS} ${options}` : options };
}
