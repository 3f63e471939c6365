import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './helpers/processes.js';

const run = promisify(execFile);
// Inside the repository, as entry points are: the bundle's imports resolve from here.
const dir = path.join(REPO_ROOT, 'test', `.run-script-${process.pid}`);
const entry = path.join(dir, 'entry.ts');
const message = path.join(dir, 'message.ts');
const cacheName = `entry-${createHash('sha1').update(entry).digest('hex').slice(0, 8)}`;
const cacheDir = path.join(REPO_ROOT, 'node_modules', '.cache', 'warden');

async function runEntry(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, ['scripts/run.mjs', entry, ...args], { cwd: REPO_ROOT });
  return stdout.trim();
}

beforeAll(async () => {
  await mkdir(dir, { recursive: true });
  // An npm dependency, bundled, beside a local module.
  await writeFile(
    entry,
    [
      "import { z } from 'zod';",
      "import { message } from './message.js';",
      'const parsed = z.string().parse(message);',
      'console.log(JSON.stringify({ parsed, args: process.argv.slice(2) }));',
    ].join('\n'),
  );
  await writeFile(message, "export const message = 'one';\n");
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  for (const suffix of ['.mjs', '.mjs.map', '.inputs.json']) {
    await rm(path.join(cacheDir, `${cacheName}${suffix}`), { force: true });
  }
});

describe('scripts/run.mjs', () => {
  it('runs an entry point with its arguments, its npm dependencies bundled', async () => {
    expect(JSON.parse(await runEntry('--flag', 'value'))).toEqual({
      parsed: 'one',
      args: ['--flag', 'value'],
    });
  });

  it('reuses the bundle while nothing changed, and rebuilds when a source changes, even to the same size', async () => {
    const bundle = path.join(cacheDir, `${cacheName}.mjs`);
    await runEntry();
    const built = (await stat(bundle)).mtimeMs;
    expect(JSON.parse(await runEntry()).parsed).toBe('one');
    expect((await stat(bundle)).mtimeMs).toBe(built);

    await writeFile(message, "export const message = 'two';\n");
    // Same length as before: only the modification time tells the change apart.
    const later = new Date(Date.now() + 5_000);
    await utimes(message, later, later);
    expect(JSON.parse(await runEntry()).parsed).toBe('two');
    expect((await stat(bundle)).mtimeMs).not.toBe(built);
  });
});
