import { PassThrough, type Readable } from 'node:stream';
import { errorMessage } from '@warden/errors';
import type { FanOutTarget } from '../streams/fan-out.js';

export interface StreamUploadInfo {
  /** Storage key of the dump, `<target>/<filename>`. */
  key: string;
  contentType: string;
  /** An upper estimate of the file size (the database size), to choose a part size from. */
  expectedSize: number;
}

/**
 * Upload while dumping: called once with the stream of the file's bytes as they are written (see
 * `CreateSpooledBackupOptions.streamUpload`).
 */
export type StreamUpload = (body: Readable, info: StreamUploadInfo) => Promise<unknown>;

/** A dump's bytes, fanned out to a streamed upload that completes only when the dump passed its checks. */
export interface StreamedUpload {
  /** The fan-out target that feeds the upload; never ended by the fan-out. */
  target: FanOutTarget;
  /** Ends the body (letting the upload complete) and waits for the outcome. */
  finish(): Promise<{ ok: true } | { ok: false; error: unknown }>;
  /** Stops the upload (a multipart upload is aborted, nothing is stored) and waits for it to settle. */
  cancel(reason: unknown): Promise<void>;
}

export function startStreamedUpload(streamUpload: StreamUpload, info: StreamUploadInfo): StreamedUpload {
  const body = new PassThrough({ highWaterMark: 1024 * 1024 });
  let detached: unknown;
  const outcome: Promise<{ ok: true } | { ok: false; error: unknown }> = Promise.resolve()
    .then(() => streamUpload(body, info))
    .then(
      () => ({ ok: true as const }),
      (error: unknown) => {
        body.destroy();
        return { ok: false as const, error };
      },
    );
  return {
    target: {
      stream: body,
      end: false,
      optional: true,
      onDetach: (error) => {
        detached = error;
      },
    },
    async finish() {
      if (detached === undefined && !body.destroyed) body.end();
      return outcome;
    },
    async cancel(reason) {
      if (!body.destroyed) {
        body.destroy(new Error(`the backup failed: ${errorMessage(reason)}`));
      }
      await outcome;
    },
  };
}
