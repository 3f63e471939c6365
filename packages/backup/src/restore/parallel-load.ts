import { parseCopyStatement } from '../content/dump-content.js';
import { createTopLevelTracker } from '../content/sql-top-level.js';
import { type LoadSession, startLoadSession } from './load-session.js';

/**
 * psql sessions the dump's data is loaded by, beside the one that runs everything else. One psql
 * keeps one server process busy, parsing rows; two keep two cores busy.
 */
export const DATA_SESSIONS = 2;

/** A table's COPY is cut into COPYs of about this much data: each commits on its own. */
const CHUNK_BYTES = 4 * 1024 * 1024;

const NEWLINE = 0x0a;
const END_OF_DATA = '\\.\n';

export interface ParallelLoadOptions {
  psqlPath: string;
  env: Record<string, string>;
  signal: AbortSignal;
  /** The dump's `ordinal`-th `COPY … FROM stdin` (from 0) has committed, all its rows. */
  onCopyCommitted?: (ordinal: number) => void;
  /** @defaultValue DATA_SESSIONS */
  dataSessions?: number;
  /** Rows per COPY, in bytes. @defaultValue 4 MiB */
  chunkBytes?: number;
}

/**
 * Replays a plain dump with several psql sessions, the way pg_restore's `--jobs` does for its own
 * format: every statement goes to the main session, in order, and each `COPY … FROM stdin` block
 * (found at the top level of the SQL, see content/sql-top-level.ts) goes, in COPYs of about 4 MiB
 * of rows each, to whichever data session has the least to do. Rows are independent lines, so a
 * block cut at line ends loads the same rows. Order is kept where it matters: a COPY starts only
 * once the main session has run everything before it (the table exists), and the main session
 * runs a statement after data only once every COPY before it has committed (an index sees all
 * rows, a sequence is set after its data). Each data session first gets the session settings the
 * dump gave so far (its `SET` and `set_config` lines: encoding, search path, `row_security`).
 */
export interface ParallelLoad {
  /** The next piece of the SQL; resolves when more may be given, rejects once a session failed. */
  write(chunk: Buffer): Promise<void>;
  /** After the whole SQL: waits for every COPY to commit and ends the data sessions. */
  finishData(): Promise<void>;
  readonly main: LoadSession;
  /** The first session that failed or ended before its input did, if one has. */
  readonly failed: LoadSession | undefined;
  /** Resolves when a session fails (see {@link failed}). */
  readonly failure: Promise<LoadSession>;
  kill(): void;
}

interface DataSession {
  session: LoadSession;
  /** The block ordinal of each COPY sent and not yet committed, in order. */
  pending: number[];
  settingsApplied: number;
}

export function startParallelLoad(options: ParallelLoadOptions): ParallelLoad {
  const dataCount = options.dataSessions ?? DATA_SESSIONS;
  const chunkBytes = options.chunkBytes ?? CHUNK_BYTES;
  let failed: LoadSession | undefined;
  let reportFailure: (session: LoadSession) => void = () => undefined;
  const failure = new Promise<LoadSession>((resolve) => {
    reportFailure = resolve;
  });
  const broken = failure.then((session): never => {
    throw Object.assign(new Error('a psql session of the restore failed'), { session });
  });
  broken.catch(() => undefined);
  let ending = false;
  const watch = (session: LoadSession) => {
    void session.exited.then((result) => {
      if ((result.failed || !ending) && failed === undefined) {
        failed = session;
        reportFailure(session);
      }
      wake();
    });
    return session;
  };
  const race = <T>(wait: Promise<T>): Promise<T> => Promise.race([wait, broken]);

  const waiters: (() => void)[] = [];
  const wake = () => {
    for (const resume of waiters.splice(0)) resume();
  };
  const nextEvent = () => race(new Promise<void>((resume) => waiters.push(resume)));

  let syncToken: string | undefined;
  const main = startLoadSession({
    ...options,
    onLine: (line) => {
      if (syncToken !== undefined && line.trim() === syncToken) {
        syncToken = undefined;
        wake();
      }
    },
  });
  watch(main);
  const data: DataSession[] = [];
  const blocks = new Map<number, { pending: number; ended: boolean }>();
  const committed = (ordinal: number) => {
    const block = blocks.get(ordinal);
    if (block === undefined || !block.ended || block.pending > 0) return;
    blocks.delete(ordinal);
    options.onCopyCommitted?.(ordinal);
  };
  const startDataSession = (): DataSession => {
    const entry: DataSession = {
      session: undefined as unknown as LoadSession,
      pending: [],
      settingsApplied: 0,
    };
    entry.session = watch(
      startLoadSession({
        ...options,
        onLine: (line) => {
          if (!/^COPY \d+$/.test(line)) return;
          const ordinal = entry.pending.shift();
          if (ordinal === undefined) return;
          const block = blocks.get(ordinal);
          if (block) block.pending -= 1;
          committed(ordinal);
          wake();
        },
      }),
    );
    data.push(entry);
    return entry;
  };

  const tracker = createTopLevelTracker();
  const settings: string[] = [];
  let mainOut: Buffer[] = [];
  let mainDirty = false;
  let syncs = 0;
  let carry: Buffer | undefined;
  let ordinals = 0;
  let current: { entry: DataSession; header: Buffer; ordinal: number; bytes: number } | undefined;
  /** In a block, the last line written is not complete yet. */
  let midLine = false;

  const flushMain = () => {
    if (mainOut.length === 0) return;
    main.write(mainOut.length === 1 ? (mainOut[0] as Buffer) : Buffer.concat(mainOut));
    mainOut = [];
  };
  const syncMain = async () => {
    if (!mainDirty) return;
    syncs += 1;
    const token = `warden-load-sync-${syncs}`;
    mainOut.push(Buffer.from(`SELECT '${token}';\n`));
    flushMain();
    syncToken = token;
    while (syncToken === token) await nextEvent();
    mainDirty = false;
  };
  const dataPending = () => data.some((entry) => entry.pending.length > 0);
  const syncData = async () => {
    while (dataPending()) await nextEvent();
  };

  const startCopy = async (header: Buffer, ordinal: number) => {
    while (data.length < dataCount) startDataSession();
    for (;;) {
      const entry = data.reduce((least, next) =>
        next.session.backlog < least.session.backlog ? next : least,
      );
      if (entry.session.backlog < chunkBytes) {
        for (; entry.settingsApplied < settings.length; entry.settingsApplied++) {
          entry.session.write(settings[entry.settingsApplied] as string);
        }
        entry.session.write(header);
        entry.pending.push(ordinal);
        (blocks.get(ordinal) as { pending: number }).pending += 1;
        current = { entry, header, ordinal, bytes: 0 };
        return;
      }
      await race(Promise.race(data.map((candidate) => candidate.session.drained())));
    }
  };
  const forward = (rows: Buffer) => {
    if (rows.length === 0 || current === undefined) return;
    current.entry.session.write(rows);
    current.bytes += rows.length;
  };
  const endCopy = () => {
    if (current === undefined) return;
    current.entry.session.write(END_OF_DATA);
    current = undefined;
  };

  const mainLine = async (line: Buffer) => {
    const text = line.toString('latin1', 0, line.length - 1);
    const topLevel = tracker.atTopLevel;
    tracker.line(text);
    if (topLevel && text.startsWith('COPY ') && parseCopyStatement(text)) {
      await syncMain();
      const ordinal = ordinals++;
      blocks.set(ordinal, { pending: 0, ended: false });
      midLine = false;
      await startCopy(Buffer.from(line), ordinal);
      return;
    }
    if (topLevel && (text === '' || text.startsWith('--'))) {
      mainOut.push(line);
      return;
    }
    if (topLevel && (text.startsWith('SET ') || text.startsWith('SELECT pg_catalog.set_config('))) {
      settings.push(`${text}\n`);
    }
    if (dataPending()) {
      flushMain();
      await syncData();
    }
    mainOut.push(line);
    mainDirty = true;
  };

  /** Rows of the open block from `at`; returns where the block ended, or -1 at the end of `buf`. */
  const copyRows = async (buf: Buffer, at: number): Promise<number> => {
    let runStart = at;
    for (let from = at; ; ) {
      const newline = buf.indexOf(NEWLINE, from);
      if (newline === -1) {
        if (!midLine && buf.length - from <= 2) {
          // Perhaps the start of the block's `\.`: kept until the line is whole.
          forward(buf.subarray(runStart, from));
          carry = Buffer.from(buf.subarray(from));
        } else {
          forward(buf.subarray(runStart));
          midLine = buf.length > from;
        }
        return -1;
      }
      const lineStart = !midLine;
      midLine = false;
      if (lineStart && newline - from === 2 && buf[from] === 0x5c && buf[from + 1] === 0x2e) {
        forward(buf.subarray(runStart, from));
        endCopy();
        return newline + 1;
      }
      from = newline + 1;
      if ((current?.bytes ?? 0) + (from - runStart) >= chunkBytes) {
        forward(buf.subarray(runStart, from));
        const { header, ordinal } = current as NonNullable<typeof current>;
        endCopy();
        await startCopy(header, ordinal);
        runStart = from;
      }
    }
  };

  return {
    main,
    get failed() {
      return failed;
    },
    failure,
    async write(chunk) {
      let buf = chunk;
      if (carry !== undefined) {
        buf = Buffer.concat([carry, chunk]);
        carry = undefined;
      }
      for (let at = 0; at < buf.length; ) {
        if (current !== undefined) {
          const ordinal = current.ordinal;
          const next = await copyRows(buf, at);
          if (next === -1) break;
          const block = blocks.get(ordinal);
          if (block) block.ended = true;
          committed(ordinal);
          at = next;
          continue;
        }
        const newline = buf.indexOf(NEWLINE, at);
        if (newline === -1) {
          carry = Buffer.from(buf.subarray(at));
          break;
        }
        await mainLine(buf.subarray(at, newline + 1));
        at = newline + 1;
      }
      flushMain();
      // What waits in this process for a psql is bounded: a COPY starts on a session with less
      // than a chunk waiting, and a long row, or a psql slower than the stream, holds the stream.
      if (main.backlog > chunkBytes) await race(main.drained());
      if (current !== undefined && current.entry.session.backlog > chunkBytes) {
        await race(current.entry.session.drained());
      }
    },
    async finishData() {
      if (carry !== undefined) {
        mainOut.push(carry);
        carry = undefined;
      }
      flushMain();
      await syncData();
      ending = true;
      for (const entry of data) entry.session.end();
      await Promise.all(data.map((entry) => entry.session.exited));
      if (failed !== undefined) throw new Error('a psql session of the restore failed');
    },
    kill() {
      ending = true;
      for (const session of [main, ...data.map((entry) => entry.session)]) session.kill();
    },
  };
}
