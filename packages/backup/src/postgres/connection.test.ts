import { scrubSecrets } from '@warden/errors';
import { describe, expect, it } from 'vitest';
import { majorFromVersionNum, parsePgDumpVersion } from '../pipeline/preflight.js';
import { createTailBuffer, hasCompletionTrailer } from '../streams/tail-buffer.js';
import { connectionSecrets, libpqEnv, parseDatabaseUrl } from './connection.js';

describe('connection URL handling', () => {
  it('turns a URL into libpq environment variables', () => {
    const params = parseDatabaseUrl('postgresql://app%40corp:p%3Ass@db.internal:6543/my-db?sslmode=require');
    expect(libpqEnv(params)).toEqual({
      PGHOST: 'db.internal',
      PGPORT: '6543',
      PGDATABASE: 'my-db',
      PGUSER: 'app@corp',
      PGPASSWORD: 'p:ss',
      PGSSLMODE: 'require',
      PGAPPNAME: 'warden-backup',
    });
  });

  it('defaults host and port and reads a socket directory from the query', () => {
    expect(parseDatabaseUrl('postgres:///appdb?host=/var/run/postgresql')).toMatchObject({
      host: '/var/run/postgresql',
      port: 5432,
      database: 'appdb',
    });
  });

  it('never quotes the URL when it cannot be parsed', () => {
    expect(() => parseDatabaseUrl('postgres://u:secret@[bad')).toThrow('the database URL is not a valid URL');
    try {
      parseDatabaseUrl('postgres://u:secret@[bad');
    } catch (error) {
      expect(String((error as Error).cause)).not.toContain('secret');
    }
  });

  it('scrubs passwords, URLs and password settings from text', () => {
    const url = 'postgres://app:pa%24%24word@db:5432/app';
    const secrets = connectionSecrets(url);
    const text = `failed for ${url}; password pa$$word; conninfo "host=db password=pa$$word"; postgres://x:y@h/d`;
    const scrubbed = scrubSecrets(text, secrets);
    expect(scrubbed).not.toContain('pa$$word');
    expect(scrubbed).not.toContain('pa%24%24word');
    expect(scrubbed).not.toContain('x:y@');
    expect(scrubbed).toContain('[redacted]');
  });
});

describe('pg_dump versions', () => {
  it('parses pg_dump --version output', () => {
    expect(parsePgDumpVersion('pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)')).toEqual({
      version: '15.20',
      major: 15,
    });
    expect(parsePgDumpVersion('pg_dump (PostgreSQL) 9.6.24')).toEqual({ version: '9.6.24', major: 9.6 });
    expect(parsePgDumpVersion('pg_dump (PostgreSQL) 17beta1')?.major).toBe(17);
    expect(parsePgDumpVersion('something else')).toBeUndefined();
  });

  it('derives the major version from server_version_num', () => {
    expect(majorFromVersionNum(150020)).toBe(15);
    expect(majorFromVersionNum(170000)).toBe(17);
    expect(majorFromVersionNum(90624)).toBe(9.6);
  });
});

describe('dump trailer', () => {
  const trailer = '\n--\n-- PostgreSQL database dump complete\n--\n\n';
  it('accepts the trailer, with or without the \\unrestrict line of pg_dump 15.14+', () => {
    expect(hasCompletionTrailer(`SET x;${trailer}`)).toBe(true);
    expect(hasCompletionTrailer(`SET x;${trailer}\\unrestrict AbC123\n\n`)).toBe(true);
  });
  it('rejects output without it or with SQL after it', () => {
    expect(hasCompletionTrailer('COPY t FROM stdin;\n1\t2\n')).toBe(false);
    expect(hasCompletionTrailer(`${trailer}DROP TABLE t;\n`)).toBe(false);
  });
  it('keeps only the last bytes', () => {
    const tail = createTailBuffer(8);
    tail.push(Buffer.from('abcdef'));
    tail.push(Buffer.from('ghij'));
    expect(tail.text()).toBe('cdefghij');
    tail.push(Buffer.from('0123456789'));
    expect(tail.text()).toBe('23456789');
  });
});
