import { BackupError, StorageError } from '@warden/errors';
import { describe, expect, it } from 'vitest';
import { nextUploadStep, streamedUploadFailure } from './upload-policy.js';

const settings = { uploadRetryAttempts: 3, uploadRetryDelayMs: 300_000 };
const transient = new BackupError('UPLOAD_FAILED', 'connection reset');

describe('nextUploadStep', () => {
  it('retries a transient upload error after the delay until the retries are used up', () => {
    expect(nextUploadStep(1, transient, settings)).toEqual({ retryInMs: 300_000 });
    expect(nextUploadStep(3, new BackupError('UPLOAD_VERIFY_FAILED', 'size'), settings)).toEqual({
      retryInMs: 300_000,
    });
    expect(nextUploadStep(4, transient, settings)).toEqual({ fail: 'attempts-exhausted' });
    expect(nextUploadStep(1, transient, { uploadRetryAttempts: 0, uploadRetryDelayMs: 1 })).toEqual({
      fail: 'attempts-exhausted',
    });
  });

  it('gives up at once on a permanent error, anything that is not an upload error, or an abort', () => {
    expect(
      nextUploadStep(1, new BackupError('UPLOAD_FAILED', 'spool gone', { permanent: true }), settings),
    ).toEqual({
      fail: 'permanent',
    });
    expect(nextUploadStep(1, new BackupError('PG_DUMP_FAILED', 'x'), settings)).toEqual({
      fail: 'not-an-upload-error',
    });
    expect(nextUploadStep(1, new Error('x'), settings)).toEqual({ fail: 'not-an-upload-error' });
    expect(nextUploadStep(1, transient, settings, true)).toEqual({ fail: 'aborted' });
  });
});

describe('streamedUploadFailure', () => {
  const spooled = {
    spoolPath: '/spool/app.appdb_x.sql.gz',
    manifest: { key: 'app/appdb_x.sql.gz' },
  } as unknown as Parameters<typeof streamedUploadFailure>[0];

  it('is the first attempt’s upload error, naming the kept spool file and keeping permanence', () => {
    expect(streamedUploadFailure(spooled, { location: 's3://b/' })).toBeUndefined();
    expect(
      streamedUploadFailure({ ...spooled, streamedUpload: { ok: true } }, { location: 's3://b/' }),
    ).toBeUndefined();
    const failure = streamedUploadFailure(
      {
        ...spooled,
        streamedUpload: {
          ok: false,
          error: new StorageError('STORAGE_UNAVAILABLE', 'denied', { permanent: true }),
        },
      },
      { location: 's3://b/' },
    );
    expect(failure).toMatchObject({
      code: 'UPLOAD_FAILED',
      permanent: true,
      spoolPath: '/spool/app.appdb_x.sql.gz',
    });
    expect(failure?.message).toContain('denied');
  });
});
