import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfigOrExit, readPackageVersion } from './load-config-or-exit.js';

class Exit extends Error {
  constructor(readonly code: number | undefined) {
    super(`exit ${code}`);
  }
}

function packageJson(content: string): URL {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'warden-bootstrap-')), 'package.json');
  writeFileSync(file, content);
  return pathToFileURL(file);
}

const missing = pathToFileURL(path.join(tmpdir(), 'warden-bootstrap-none', 'package.json'));

afterEach(() => {
  vi.restoreAllMocks();
});

describe('readPackageVersion', () => {
  it('reads a string version, and gives undefined for a missing file, bad JSON or no version', () => {
    expect(readPackageVersion(packageJson('{"version":"1.2.3"}'))).toBe('1.2.3');
    expect(readPackageVersion(missing)).toBeUndefined();
    expect(readPackageVersion(packageJson('not json'))).toBeUndefined();
    expect(readPackageVersion(packageJson('{"version":7}'))).toBeUndefined();
  });
});

describe('loadConfigOrExit', () => {
  it('uses the package version as the release unless APP_VERSION is set, and runs the check', () => {
    const check = vi.fn();
    const url = packageJson('{"version":"4.5.6"}');
    const config = loadConfigOrExit({}, { messagePrefix: 'x: ', packageJsonUrl: url, check });
    expect(config.release).toBe('4.5.6');
    expect(check).toHaveBeenCalledWith(config);
    expect(
      loadConfigOrExit({ APP_VERSION: '9.9.9' }, { messagePrefix: 'x: ', packageJsonUrl: url }).release,
    ).toBe('9.9.9');
    expect(loadConfigOrExit({}, { messagePrefix: 'x: ', packageJsonUrl: missing }).release).toBe('0.0.0');
  });

  it('prints a configuration error or a refusal with the prefix and exits 2; rethrows anything else', () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    vi.spyOn(process, 'exit').mockImplementation((code) => {
      throw new Exit(code === undefined || code === null ? undefined : Number(code));
    });
    const options = { messagePrefix: 'warden-test: ', packageJsonUrl: missing };

    expect(() => loadConfigOrExit({ PORT: 'nope' }, options)).toThrow(new Exit(2));
    expect(String(stderr.mock.calls[0]?.[0])).toMatch(/^warden-test: .*PORT/s);

    class Refusal extends Error {}
    const refusing = {
      ...options,
      check: () => {
        throw new Refusal('refusing to start');
      },
      isRefusal: (error: unknown) => error instanceof Refusal,
    };
    expect(() => loadConfigOrExit({}, refusing)).toThrow(new Exit(2));
    expect(stderr.mock.calls[1]?.[0]).toBe('warden-test: refusing to start\n');

    const other = new TypeError('a bug');
    expect(() =>
      loadConfigOrExit(
        {},
        {
          ...options,
          check: () => {
            throw other;
          },
        },
      ),
    ).toThrow(other);
    expect(stderr).toHaveBeenCalledTimes(2);
  });
});
