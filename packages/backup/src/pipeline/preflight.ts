import { mkdir, statfs } from 'node:fs/promises';
import type { DatabaseLocale } from '@warden/catalog';
import { BackupError, errorMessage, scrubError, scrubSecrets } from '@warden/errors';
import { pgClientConfig } from '@warden/names';
import { execa } from 'execa';
import pg from 'pg';
import { dumpEncodingFor } from '../content/dump-content.js';
import { connectionSecrets, describeConnection, parseDatabaseUrl } from '../postgres/connection.js';
import { readDatabaseLocale } from '../postgres/database-locale.js';
import type { BackupTargetSpec } from './target.js';

export interface PreflightOptions {
  target: BackupTargetSpec;
  /** Directory the dump is spooled to; created when missing. */
  spoolDir: string;
  /** Refuse to start when the spool directory's file system has less free space than this. */
  minFreeBytes: number;
  /** pg_dump binary (absolute path or a name looked up on PATH). */
  pgDumpPath: string;
  /** @defaultValue 10000 */
  connectTimeoutMs?: number;
}

export interface PreflightResult {
  /** `server_version`, e.g. `15.20 (Debian 15.20-0+deb12u1)`. */
  serverVersion: string;
  serverVersionNum: number;
  /** Major version: 15, 16 … (9.6 style for servers older than 10). */
  serverMajor: number;
  /** Version printed by `pg_dump --version`, e.g. `15.20`. */
  pgDumpVersion: string;
  pgDumpMajor: number;
  /** `pg_database_size` of the target database in bytes. */
  databaseSizeBytes: number;
  /** The database's encoding (e.g. `EUC_TW`) and locale, which its restores are created with. */
  databaseLocale: DatabaseLocale;
  /** The client encoding pg_dump writes the dump in: the database's, or UTF8 (see `dumpEncodingFor`). */
  dumpEncoding: string;
  /** Why the dump is in an encoding its names are not read exactly in (its restores count rows only). */
  dumpEncodingProblem?: string;
  /** Free bytes on the spool directory's file system. */
  spoolFreeBytes: number;
}

/** Parses `pg_dump (PostgreSQL) 15.20 (Debian …)`; `undefined` when the text is not pg_dump's. */
export function parsePgDumpVersion(output: string): { version: string; major: number } | undefined {
  const match = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?(?:\.(\d+))?([a-z]+\d*)?/i.exec(output);
  if (!match) return undefined;
  const first = Number(match[1]);
  const second = match[2] === undefined ? undefined : Number(match[2]);
  const version = match[0].replace(/^\(PostgreSQL\)\s+/i, '');
  // Before PostgreSQL 10 the major version had two parts (9.6).
  const major = first < 10 && second !== undefined ? first + second / 10 : first;
  return { version, major };
}

/** Major version from `server_version_num` (150020 → 15, 90624 → 9.6). */
export function majorFromVersionNum(versionNum: number): number {
  if (versionNum >= 100_000) return Math.floor(versionNum / 10_000);
  return Math.floor(versionNum / 10_000) + Math.floor((versionNum % 10_000) / 100) / 10;
}

export async function checkPgDump(pgDumpPath: string): Promise<{ version: string; major: number }> {
  const result = await execa(pgDumpPath, ['--version'], { reject: false, timeout: 10_000, stdin: 'ignore' });
  const code = (result as { code?: string }).code;
  if (code === 'ENOENT' || code === 'EACCES') {
    throw new BackupError(
      'PG_DUMP_NOT_FOUND',
      `pg_dump not found or not executable at "${pgDumpPath}"; install the PostgreSQL client tools (postgresql-client) or set PG_DUMP_PATH`,
      { cause: result },
    );
  }
  const parsed = result.failed ? undefined : parsePgDumpVersion(String(result.stdout ?? ''));
  if (!parsed) {
    throw new BackupError(
      'PG_DUMP_NOT_FOUND',
      `"${pgDumpPath} --version" did not report a pg_dump version (${result.failed ? result.shortMessage : String(result.stdout).slice(0, 200)})`,
      { cause: result },
    );
  }
  return parsed;
}

export async function checkSpoolSpace(spoolDir: string, minFreeBytes: number): Promise<number> {
  await mkdir(spoolDir, { recursive: true, mode: 0o700 });
  const stats = await statfs(spoolDir);
  const free = Number(stats.bavail) * Number(stats.bsize);
  if (free < minFreeBytes) {
    throw new BackupError(
      'INSUFFICIENT_SPACE',
      `only ${formatBytes(free)} free in spool directory ${spoolDir}; at least ${formatBytes(minFreeBytes)} required`,
    );
  }
  return free;
}

/** PostgreSQL errors that retrying cannot fix: bad credentials, unknown role or database. */
const PERMANENT_SQLSTATES = new Set(['28000', '28P01', '3D000']);

/**
 * Checks everything that can be checked before dumping: pg_dump is there and can dump the server's
 * major version, the database answers, the spool directory has room.
 */
export async function runPreflight(options: PreflightOptions): Promise<PreflightResult> {
  const { target } = options;
  // Side by side (spawning pg_dump --version is most of the wait), but reported in this order: a
  // missing pg_dump is named even when the database is down too.
  const [pgDumpCheck, serverCheck] = await Promise.allSettled([
    checkPgDump(options.pgDumpPath),
    readServerInfo(target, options.connectTimeoutMs ?? 10_000),
  ]);
  if (pgDumpCheck.status === 'rejected') throw pgDumpCheck.reason;
  if (serverCheck.status === 'rejected') throw serverCheck.reason;
  const pgDump = pgDumpCheck.value;
  const server = serverCheck.value;
  if (pgDump.major < server.serverMajor) {
    throw new BackupError(
      'PG_DUMP_VERSION_MISMATCH',
      `pg_dump ${pgDump.version} cannot dump target "${target.name}": its server runs PostgreSQL ${server.serverVersion}; install the PostgreSQL ${server.serverMajor} client tools (postgresql-client-${server.serverMajor}) or newer and point PG_DUMP_PATH at that pg_dump`,
    );
  }
  const spoolFreeBytes = await checkSpoolSpace(options.spoolDir, options.minFreeBytes);
  return {
    ...server,
    pgDumpVersion: pgDump.version,
    pgDumpMajor: pgDump.major,
    spoolFreeBytes,
  };
}

async function readServerInfo(
  target: BackupTargetSpec,
  connectTimeoutMs: number,
): Promise<
  Pick<
    PreflightResult,
    | 'serverVersion'
    | 'serverVersionNum'
    | 'serverMajor'
    | 'databaseSizeBytes'
    | 'databaseLocale'
    | 'dumpEncoding'
    | 'dumpEncodingProblem'
  >
> {
  const secrets = connectionSecrets(target.databaseUrl);
  let where = `target "${target.name}"`;
  try {
    where = `database ${describeConnection(parseDatabaseUrl(target.databaseUrl))} of target "${target.name}"`;
  } catch {
    // Reported below by pg itself.
  }
  const client = new pg.Client({
    ...pgClientConfig(target.databaseUrl),
    connectionTimeoutMillis: connectTimeoutMs,
    application_name: 'warden-preflight',
  });
  // A connection dropped while idle is reported through the failing query below.
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ num: string; version: string; size: string }>(
      `SELECT current_setting('server_version_num') AS num,
              current_setting('server_version') AS version,
              pg_database_size(current_database())::text AS size`,
    );
    const row = rows[0];
    if (!row) throw new Error('no answer to the version query');
    const serverVersionNum = Number(row.num);
    const databaseLocale = await readDatabaseLocale(client, serverVersionNum);
    return {
      serverVersion: row.version,
      serverVersionNum,
      serverMajor: majorFromVersionNum(serverVersionNum),
      databaseSizeBytes: Number(row.size),
      databaseLocale,
      ...(await chooseDumpEncoding(client, databaseLocale.encoding)),
    };
  } catch (error) {
    const sqlstate = (error as { code?: string }).code;
    if (isEncodingWithoutUtf8(error)) {
      throw new BackupError(
        'PREFLIGHT_CONNECT_FAILED',
        `cannot back up ${where}: its encoding cannot be converted to UTF-8 (${scrubSecrets(errorMessage(error), secrets)}); Warden reads every database and restores it through UTF-8, so only a dump by hand (restored into a database of the same encoding) can copy it`,
        { cause: scrubError(error, secrets), permanent: true },
      );
    }
    throw new BackupError(
      'PREFLIGHT_CONNECT_FAILED',
      `cannot connect to ${where}: ${scrubSecrets(errorMessage(error) || String(sqlstate ?? 'unknown error'), secrets)}`,
      {
        cause: scrubError(error, secrets),
        permanent: sqlstate !== undefined && PERMANENT_SQLSTATES.has(sqlstate),
      },
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** SQLSTATEs of a name the server cannot convert: untranslatable character, invalid byte sequence. */
const UNCONVERTIBLE_SQLSTATES = new Set(['22P05', '22021']);

/**
 * The encoding of {@link dumpEncodingFor}, unless that is UTF-8 and a name pg_dump reads from the
 * catalogs every database shares cannot be converted to UTF-8: pg_dump (15+) reads every role's
 * name, and one written from a database of another encoding may be no character of this one.
 * A dump in UTF-8 would fail; the dump stays in the database's encoding instead.
 */
async function chooseDumpEncoding(
  client: pg.Client,
  databaseEncoding: string,
): Promise<Pick<PreflightResult, 'dumpEncoding' | 'dumpEncodingProblem'>> {
  const dumpEncoding = dumpEncodingFor(databaseEncoding);
  if (dumpEncoding !== 'UTF8' || databaseEncoding === 'UTF8') return { dumpEncoding };
  try {
    await client.query(
      `SELECT count(convert_to(name, 'UTF8')) FROM (
         SELECT rolname::text FROM pg_roles UNION ALL SELECT spcname::text FROM pg_tablespace
         UNION ALL SELECT current_database()::text) names (name)`,
    );
    return { dumpEncoding };
  } catch (error) {
    if (!UNCONVERTIBLE_SQLSTATES.has((error as { code?: string }).code ?? '')) throw error;
    return {
      dumpEncoding: databaseEncoding,
      dumpEncodingProblem: `a role, tablespace or database name on the server cannot be converted from ${databaseEncoding} to UTF-8 (${errorMessage(error)}), so the dump is in ${databaseEncoding}, whose names Warden does not read exactly: its restores are proven by row counts only`,
    };
  }
}

/**
 * The server refused the connection's UTF-8 client encoding (the pg client always asks for it):
 * the database's encoding has no conversion to UTF-8 (MULE_INTERNAL). The routine name, unlike
 * the message, is not translated.
 */
function isEncodingWithoutUtf8(error: unknown): boolean {
  const { code, routine } = error as { code?: string; routine?: string };
  return code === '0A000' && routine === 'InitializeClientEncoding';
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(2)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}
