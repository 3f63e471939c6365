import type { BackupManifest, TableDigest } from '@warden/catalog';
import { pgClientConfig } from '@warden/names';
import pg from 'pg';
import type { ConnectionParams } from '../postgres/connection.js';
import { contentSkipped, majorOf, proveContent, type ServerFacts } from './content-proof.js';
import {
  createReadBackPool,
  READ_BACK_SESSIONS,
  type ReadBack,
  type ReadBackOptions,
  type ReadBackPool,
  type TableToRead,
} from './read-back.js';
import type { RestoreCheck } from './restore-check.js';

export interface ContentCheckOptions {
  manifest: BackupManifest;
  /** The restored database's connection (same server as the restore). */
  url: string;
  params: ConnectionParams;
  psqlPath: string;
  signal: AbortSignal;
  /** Scrubbed from error output. @defaultValue none */
  secrets?: readonly string[];
  /**
   * The restore could not give the database the backup's encoding and locale, and why: the proof
   * reports it instead of comparing them. @defaultValue they are compared
   */
  localeNote?: string;
}

export type ContentCheck = RestoreCheck;

const SESSIONS_DURING_LOAD = 1;

/** From this many rows on a table's size is looked up, so a big one is read in page ranges. */
const SIZED_TABLE_ROWS = 20_000;

/** A proof under way: tables are read back as psql commits them, the rest after the load. */
export interface ContentCheckRun {
  /** The load committed all rows of the dump's `ordinal`-th `COPY … FROM stdin` (from 0). */
  copyCommitted(ordinal: number): void;
  /** The load is over: proves the database. */
  finish(): Promise<{ problems: string[]; check: RestoreCheck }>;
  /** The load failed: stops reading. */
  cancel(): void;
}

/**
 * Proves a restored database against the manifest: schema object counts and every table's row
 * count; then, when they agree, the recorded database properties (applied first when the dump does
 * not carry them), every table's data digest, every sequence and the large objects. The tables are
 * read back with `COPY … TO STDOUT` in pg_dump's session and digested like the dump was; that
 * read-back counts their rows too, so only tables the dump holds no data for are counted
 * separately. Returns the differences, each naming the table or object.
 *
 * Each table may be read as soon as the load reports its COPY committed
 * ({@link ContentCheckRun.copyCommitted}), while the load goes on: nothing later in a pg_dump file
 * writes to a table (its triggers and rules are created after its data, event triggers do not fire
 * in the restore's session), so what is read then is what the finished database holds. The k-th
 * COPY of the dump is the k-th recorded table (both in the dump's order). That early read is a
 * head start only: it is used when the load reported every COPY of the dump once and no more than
 * were recorded, a table whose early read differs from the dump is read again after the load, and
 * everything is when the early read failed.
 */
export function startContentCheck(options: ContentCheckOptions): ContentCheckRun {
  const { manifest } = options;
  const recorded = manifest.content?.tables ?? [];
  const stop = new AbortController();
  const onAbort = () => stop.abort(options.signal.reason);
  options.signal.addEventListener('abort', onAbort, { once: true });
  const readOptions = (sessions: number) => ({
    params: options.params,
    psqlPath: options.psqlPath,
    signal: stop.signal,
    secrets: options.secrets ?? [],
    sessions,
    ...(manifest.content?.encoding === undefined ? {} : { encoding: manifest.content.encoding }),
  });
  let connecting: Promise<{ client: pg.Client; server: ServerFacts }> | undefined;
  const connect = () => {
    connecting ??= connectProofClient(options.url).then(async (client) => ({
      client,
      server: await serverFacts(client),
    }));
    return connecting;
  };
  let commits = 0;
  const reported = new Set<number>();
  let early: ReadBackPool | undefined;
  let earlyOff = recorded.length === 0;
  const readEarly = new Set<number>();
  let earlyWork: Promise<void> = Promise.resolve();
  const startEarly = async (index: number) => {
    const { client, server } = await connect();
    if (earlyOff || contentSkipped(manifest, server.major) !== undefined) {
      earlyOff = true;
      return;
    }
    early ??= createReadBackPool(recorded, {
      ...readOptions(SESSIONS_DURING_LOAD),
      tidRanges: server.tidRanges,
    });
    const table = recorded[index] as TableDigest;
    const pages = server.tidRanges && table.rows >= SIZED_TABLE_ROWS ? await relationPages(client, table) : 0;
    early.add([{ index, pages }]);
    readEarly.add(index);
  };
  const endConnection = async () => {
    options.signal.removeEventListener('abort', onAbort);
    const connected = await connecting?.catch(() => undefined);
    await connected?.client.end().catch(() => undefined);
  };
  return {
    copyCommitted(index) {
      commits += 1;
      if (earlyOff || index >= recorded.length || reported.has(index)) {
        earlyOff = true;
        return;
      }
      reported.add(index);
      earlyWork = earlyWork
        .then(() => (earlyOff ? undefined : startEarly(index)))
        .catch(() => {
          earlyOff = true;
          early?.cancel();
        });
    },
    cancel() {
      earlyOff = true;
      stop.abort();
      early?.cancel();
      void endConnection();
    },
    async finish() {
      await earlyWork;
      try {
        const { client, server } = await connect();
        const usable = !earlyOff && commits === recorded.length ? early : undefined;
        if (early !== undefined && usable === undefined) {
          early.cancel();
          await early.finish();
        }
        return await proveContent(
          client,
          server,
          options.manifest,
          {
            early: usable,
            readEarly,
            readAll: (tables, tidRanges) =>
              readTables(recorded, tables, { ...readOptions(READ_BACK_SESSIONS), tidRanges }),
          },
          options.localeNote,
        );
      } finally {
        await endConnection();
      }
    },
  };
}

/** The whole proof after the load, in one go (no table read while loading). */
export async function checkRestoredContent(
  options: ContentCheckOptions,
): Promise<{ problems: string[]; check: RestoreCheck }> {
  return startContentCheck(options).finish();
}

async function connectProofClient(url: string): Promise<pg.Client> {
  const client = new pg.Client({
    ...pgClientConfig(url),
    connectionTimeoutMillis: 10_000,
    application_name: 'warden-restore-check',
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    // The restored database's own settings apply to this session (its dump gave them): a timeout
    // meant for the application must not cut the proof short.
    await client.query('SET statement_timeout = 0; SET lock_timeout = 0');
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  return client;
}

async function serverFacts(client: pg.Client): Promise<ServerFacts> {
  const { rows } = await client.query<{ version: string; number: string }>(
    "SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS number",
  );
  const versionNum = Number(rows[0]?.number ?? 0);
  return { major: majorOf(rows[0]?.version ?? ''), versionNum, tidRanges: versionNum >= 140000 };
}

/** A table's size in pages now (its statistics are not updated by a load). */
async function relationPages(client: pg.Client, table: { schema: string; name: string }): Promise<number> {
  const { rows } = await client.query<{ pages: number }>(
    `SELECT (pg_catalog.pg_relation_size(c.oid) / pg_catalog.current_setting('block_size')::int)::int AS pages
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind = 'r'`,
    [table.schema, table.name],
  );
  return rows[0]?.pages ?? 0;
}

/** Reads these recorded tables with a pool of its own. */
async function readTables(
  recorded: readonly TableDigest[],
  tables: readonly TableToRead[],
  options: ReadBackOptions,
): Promise<ReadBack> {
  const pool = createReadBackPool(recorded, options);
  pool.add(tables);
  return pool.finish();
}
