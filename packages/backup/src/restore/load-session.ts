import type { Result } from 'execa';
import { spawnPsql } from '../postgres/psql-process.js';
import { createTailBuffer, STDERR_TAIL_BYTES, type TailBuffer } from '../streams/tail-buffer.js';

/** One psql replaying part of a dump: its input, the lines it prints, its exit. */
export interface LoadSession {
  /** Writes SQL; `false` when psql's input is full (see {@link drained}). */
  write(sql: Buffer | string): boolean;
  /** Bytes written that have not reached psql's input pipe yet. */
  readonly backlog: number;
  /** Resolves once all that was written has reached psql's input pipe, or psql has ended. */
  drained(): Promise<void>;
  /** Ends psql's input (after `last`). */
  end(last?: string): void;
  readonly ended: boolean;
  readonly exited: Promise<Result>;
  readonly stderr: TailBuffer;
  kill(): void;
}

export interface LoadSessionOptions {
  psqlPath: string;
  env: Record<string, string>;
  signal: AbortSignal;
  /** Each line psql prints (command tags, result rows), without its newline. */
  onLine: (line: string) => void;
}

/**
 * Starts psql reading SQL from its input, not quiet: its command tags (`COPY 120`) and result rows
 * say how far it got. psql flushes its output after each statement.
 */
export function startLoadSession(options: LoadSessionOptions): LoadSession {
  const psql = spawnPsql(
    options.psqlPath,
    ['-X', '--no-password', '-v', 'ON_ERROR_STOP=1'],
    options.env,
    options.signal,
  );
  const stderr = createTailBuffer(STDERR_TAIL_BYTES);
  psql.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  let partial = '';
  psql.stdout.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString('latin1')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) options.onLine(line);
  });
  const stdin = psql.stdin;
  stdin.on('error', () => undefined);
  let ended = false;
  // Bytes written that have not reached psql's pipe yet (a write's callback says when they have).
  let unflushed = 0;
  const onFlushed: (() => void)[] = [];
  const flushed = () => {
    for (const resume of onFlushed.splice(0)) resume();
  };
  const exited = psql.then((result) => {
    ended = true;
    flushed();
    return result;
  });
  return {
    write: (sql) => {
      const length = sql.length;
      unflushed += length;
      // The callback also runs with the EPIPE of a psql that stopped at an error: its exit says why.
      return stdin.write(sql, () => {
        unflushed -= length;
        if (unflushed === 0) flushed();
      });
    },
    get backlog() {
      return unflushed;
    },
    drained: () =>
      ended || unflushed === 0 ? Promise.resolve() : new Promise<void>((resolve) => onFlushed.push(resolve)),
    end: (last) => {
      if (last === undefined) stdin.end();
      else stdin.end(last);
    },
    get ended() {
      return ended;
    },
    exited,
    stderr,
    kill: () => {
      psql.kill('SIGKILL');
    },
  };
}
