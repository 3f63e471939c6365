import { describe, expect, it } from 'vitest';
import { hostHeaderName, isSameOrigin } from './auth.js';

describe('hostHeaderName', () => {
  it('takes the name out of a Host header, with or without a port', () => {
    expect(hostHeaderName('localhost')).toBe('localhost');
    expect(hostHeaderName('LOCALHOST:3000')).toBe('localhost');
    expect(hostHeaderName('127.0.0.1:3000')).toBe('127.0.0.1');
    expect(hostHeaderName('[::1]')).toBe('::1');
    expect(hostHeaderName('[::1]:3000')).toBe('::1');
    expect(hostHeaderName('evil.example:3000')).toBe('evil.example');
  });

  it('refuses anything that is not a plain host', () => {
    for (const host of [
      '',
      '::1',
      '[::1',
      'a:b:c',
      'localhost:port',
      'user@localhost',
      'localhost/x',
      'a b',
    ]) {
      expect(hostHeaderName(host), host).toBeUndefined();
    }
  });
});

describe('isSameOrigin', () => {
  it('matches an http(s) Origin against the Host, default ports normalized', () => {
    expect(isSameOrigin('http://127.0.0.1:3000', '127.0.0.1:3000')).toBe(true);
    expect(isSameOrigin('http://localhost', 'localhost:80')).toBe(true);
    expect(isSameOrigin('https://warden.example', 'warden.example')).toBe(true);
    expect(isSameOrigin('http://localhost:3000', '127.0.0.1:3000')).toBe(false);
    expect(isSameOrigin('http://127.0.0.1:3001', '127.0.0.1:3000')).toBe(false);
    expect(isSameOrigin('null', '127.0.0.1:3000')).toBe(false);
    expect(isSameOrigin('file://127.0.0.1:3000', '127.0.0.1:3000')).toBe(false);
    expect(isSameOrigin('http://127.0.0.1:3000', '')).toBe(false);
  });
});
