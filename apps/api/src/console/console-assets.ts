import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** The console's script and style sheet, with the digests that name them in URLs. */
export interface ConsoleAssets {
  script: string;
  style: string;
  /** Short content hashes, so a new release is never served from a stale browser cache. */
  scriptVersion: string;
  styleVersion: string;
}

/** Where the console's sources live: `apps/api/console/`, found through the workspace package. */
function consoleSourceDir(): string {
  const packageJson = createRequire(import.meta.url).resolve('@warden/api/package.json');
  return path.join(path.dirname(packageJson), 'console');
}

function version(content: string): string {
  return createHash('sha256').update(content).digest('hex').slice(0, 12);
}

async function readPrebuilt(dir: string): Promise<{ script: string; style: string } | undefined> {
  try {
    const [script, style] = await Promise.all([
      readFile(path.join(dir, 'console.js'), 'utf8'),
      readFile(path.join(dir, 'console.css'), 'utf8'),
    ]);
    return { script, style };
  } catch {
    return undefined;
  }
}

/**
 * The console's assets: `console.js` and `console.css` from `prebuiltDir` when `npm run build` wrote
 * them there (dist/console/, what the image runs), otherwise `apps/api/console/main.ts` (a few small
 * TypeScript modules, no framework) bundled with the project's esbuild, in memory.
 */
export async function loadConsoleAssets(
  options: { prebuiltDir?: string | undefined } = {},
): Promise<ConsoleAssets> {
  const prebuilt = options.prebuiltDir === undefined ? undefined : await readPrebuilt(options.prebuiltDir);
  const built = prebuilt ?? (await buildConsoleAssets());
  return {
    ...built,
    scriptVersion: version(built.script),
    styleVersion: version(built.style),
  };
}

/** The console bundle, built in memory from its sources (`apps/api/console/build.mjs`). */
export async function buildConsoleAssets(): Promise<{ script: string; style: string }> {
  const builder = pathToFileURL(path.join(consoleSourceDir(), 'build.mjs')).href;
  const { buildConsole } = (await import(builder)) as {
    buildConsole(): Promise<{ script: string; style: string }>;
  };
  return buildConsole();
}
