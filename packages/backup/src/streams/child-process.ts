import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { createTailBuffer, STDERR_TAIL_BYTES } from './tail-buffer.js';

/** How a child process ended. Always resolved, never rejected. */
export interface ChildExit {
  /** It failed on its own: non-zero exit, a signal we did not send, or it could not start. */
  failed: boolean;
  /** We stopped it (the abort signal fired). */
  cancelled: boolean;
  exitCode?: number;
  signal?: NodeJS.Signals;
  /** `ENOENT` and the like when it could not start. */
  errorCode?: string;
  /** The last bytes of its stderr, trimmed. */
  stderr: string;
}

export interface RunningChild {
  readonly process: ChildProcess;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly exited: Promise<ChildExit>;
}

export interface StartChildOptions {
  env?: NodeJS.ProcessEnv;
  /** stdin and stdout: `'pipe'`, `'ignore'`, or another child's pipe to connect to directly. */
  stdin?: 'pipe' | 'ignore' | Readable | Writable;
  stdout?: 'pipe' | 'ignore' | Readable | Writable;
  /** Stops the child (SIGTERM, then SIGKILL after 5 s) when aborted. */
  signal?: AbortSignal;
}

/**
 * `child_process.spawn` with an exit summary and a bounded stderr tail. Used instead of execa where a
 * child's stdout must be handed to another child as its stdin: execa pipes through this process
 * (every byte of the dump would pass through Node twice) and reports a closed copy as a failure.
 */
export function startChild(command: string, args: string[], options: StartChildOptions = {}): RunningChild {
  const stdio = [options.stdin ?? 'ignore', options.stdout ?? 'pipe', 'pipe'] as StdioOptions;
  const child = spawn(command, args, { env: options.env ?? process.env, stdio });
  const stderr = createTailBuffer(STDERR_TAIL_BYTES);
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
  // Errors of our ends of its pipes (EPIPE when it exits early) show in its exit status instead.
  child.stdin?.on('error', () => undefined);
  child.stdout?.on('error', () => undefined);

  let cancelled = false;
  let killTimer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    cancelled = true;
    child.kill('SIGTERM');
    killTimer = setTimeout(() => child.kill('SIGKILL'), 5000);
    killTimer.unref();
  };
  if (options.signal?.aborted) queueMicrotask(onAbort);
  else options.signal?.addEventListener('abort', onAbort, { once: true });

  const exited = new Promise<ChildExit>((resolve) => {
    let settled = false;
    const settle = (exit: Omit<ChildExit, 'stderr' | 'cancelled'>) => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener('abort', onAbort);
      if (killTimer) clearTimeout(killTimer);
      resolve({ ...exit, failed: exit.failed && !cancelled, cancelled, stderr: stderr.text().trim() });
    };
    child.once('error', (error: NodeJS.ErrnoException) => {
      // Only a failure to start ends it here; a running child still reports through 'close'.
      if (child.pid === undefined) settle({ failed: true, ...(error.code ? { errorCode: error.code } : {}) });
    });
    child.once('close', (code, signal) => {
      settle({
        failed: code !== 0,
        ...(code === null ? {} : { exitCode: code }),
        ...(signal === null ? {} : { signal }),
      });
    });
  });
  return { process: child, stdin: child.stdin, stdout: child.stdout, exited };
}

/** "exited with code 1" / "was ended by SIGKILL" / "could not start (ENOENT)". */
export function describeExit(exit: ChildExit): string {
  if (exit.errorCode !== undefined) return `could not start (${exit.errorCode})`;
  if (exit.exitCode !== undefined) return `exited with code ${exit.exitCode}`;
  return `was ended by ${exit.signal ?? 'an error'}`;
}
