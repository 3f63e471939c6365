import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';

export interface FanOutTarget {
  stream: Writable;
  /** End the target when the fan-out ends; `false` leaves that to the owner. @defaultValue true */
  end?: boolean;
  /** A failing optional target is detached and the others go on; a required one fails the fan-out. @defaultValue false */
  optional?: boolean;
  /** Called once when an optional target is detached. */
  onDetach?: (error: unknown) => void;
}

/**
 * One writable that writes every chunk to several targets (spool file, integrity check, upload), at
 * the pace of the slowest: a chunk is accepted only when every target has taken it, so memory stays
 * bounded by the targets' own buffers. Destroying the fan-out destroys every target it has not ended.
 */
export function createFanOut(targets: FanOutTarget[], onChunk?: (chunk: Buffer) => void): Writable {
  const active = new Set(targets);
  const ended = new Set<FanOutTarget>();
  let completed = false;

  const detach = (target: FanOutTarget, error: unknown) => {
    if (!active.delete(target)) return;
    target.onDetach?.(error);
  };
  const targetError = (target: FanOutTarget): Error =>
    target.stream.errored ?? new Error('a fan-out target closed before the end of the stream');

  /** Resolves when the target can take more; rejects (required) or detaches (optional) when it fails. */
  const drained = (target: FanOutTarget): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const { stream } = target;
      const cleanup = () => {
        stream.off('drain', onDrain);
        stream.off('close', onClose);
        stream.off('error', onClose);
      };
      const onDrain = () => {
        cleanup();
        resolve();
      };
      const onClose = () => {
        cleanup();
        const error = targetError(target);
        if (target.optional) {
          detach(target, error);
          resolve();
        } else {
          reject(error);
        }
      };
      stream.on('drain', onDrain);
      stream.once('close', onClose);
      stream.once('error', onClose);
    });

  return new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      onChunk?.(chunk);
      const waits: Promise<void>[] = [];
      for (const target of active) {
        if (target.stream.destroyed || target.stream.writableEnded) {
          if (target.optional) {
            detach(target, targetError(target));
            continue;
          }
          callback(targetError(target));
          return;
        }
        if (!target.stream.write(chunk)) waits.push(drained(target));
      }
      if (waits.length === 0) callback();
      else Promise.all(waits).then(() => callback(), callback);
    },
    final(callback) {
      const endings: Promise<void>[] = [];
      for (const target of active) {
        if (target.end === false) continue;
        ended.add(target);
        target.stream.end();
        const ending = finished(target.stream, { readable: false });
        endings.push(target.optional ? ending.catch((error: unknown) => detach(target, error)) : ending);
      }
      Promise.all(endings).then(() => {
        completed = true;
        callback();
      }, callback);
    },
    destroy(error, callback) {
      // After a clean end (autoDestroy), targets left open on purpose stay open for their owner.
      if (completed && !error) {
        callback(null);
        return;
      }
      for (const target of targets) {
        if (!ended.has(target) && !target.stream.destroyed) {
          target.stream.destroy(error ?? new Error('the stream was stopped before its end'));
        }
      }
      callback(error);
    },
  });
}
