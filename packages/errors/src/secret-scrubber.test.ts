import { describe, expect, it } from 'vitest';
import {
  createSecretScrubber,
  describeError,
  scrubDeep,
  scrubError,
  scrubSecrets,
} from './secret-scrubber.js';

describe('createSecretScrubber', () => {
  const scrub = createSecretScrubber(['p@ss:word/1', undefined, 'https://hooks.example.com/T1/B2/tok']);

  it('replaces configured secrets, raw and URI-encoded', () => {
    expect(scrub('pw=p@ss:word/1 enc=p%40ss%3Aword%2F1 abc')).toBe('pw=[redacted] enc=[redacted] abc');
    expect(scrub('post to https://hooks.example.com/T1/B2/tok failed')).toBe('post to [redacted] failed');
  });

  it('hides passwords inside connection URLs and Slack webhook URLs even when not configured', () => {
    expect(scrub('postgres://backup:unknownPw@db:5432/app')).toBe('postgres://backup:[redacted]@db:5432/app');
    expect(scrub('redis://:redisPw@cache:6379')).toBe('redis://:[redacted]@cache:6379');
    expect(scrub('https://hooks.slack.com/services/T0/B0/XyZ')).toBe('https://hooks.slack.com/[redacted]');
    expect(scrub('https://0123456789abcdef0123@o1.ingest.sentry.io/5')).toBe(
      'https://[redacted]@o1.ingest.sentry.io/5',
    );
    expect(scrub('postgres://backup@db:5432/app')).toBe('postgres://backup@db:5432/app');
  });

  it('scrubs deeply and describes errors without secrets', () => {
    const value = { a: ['x p@ss:word/1'], b: { c: 'abc', n: 3, d: null } };
    expect(scrubDeep(value, scrub)).toEqual({ a: ['x [redacted]'], b: { c: 'abc', n: 3, d: null } });
    expect(value.a[0]).toBe('x p@ss:word/1');
    expect(describeError(new TypeError('bad p@ss:word/1'), scrub)).toBe('TypeError: bad [redacted]');
    expect(describeError('plain p@ss:word/1', scrub)).toBe('plain [redacted]');
  });
});

describe('scrubSecrets and scrubError', () => {
  it('hide libpq password settings and any given secret, keeping the error code', () => {
    expect(scrubSecrets("host=db password='s3 cret' user=x", [])).toBe('host=db password=[redacted] user=x');
    expect(scrubSecrets('password=hunter2 dbname=app', [])).toBe('password=[redacted] dbname=app');
    expect(scrubSecrets('auth failed for pw1', ['pw1'])).toBe('auth failed for [redacted]');
    const error = Object.assign(new Error('password authentication failed, password=pw1'), { code: '28P01' });
    const scrubbed = scrubError(error, ['pw1']);
    expect(scrubbed.message).toBe('password authentication failed, password=[redacted]');
    expect((scrubbed as Error & { code?: string }).code).toBe('28P01');
  });
});
