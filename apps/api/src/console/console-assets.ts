import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

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
 * Bundles `apps/api/console/main.ts` (a few small TypeScript modules, no framework) with the
 * project's esbuild, in memory. A build step may write `console.js` and `console.css` into
 * `prebuiltDir` instead; those are then served as they are.
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

/** The console bundle, built in memory from its sources. */
export async function buildConsoleAssets(): Promise<{ script: string; style: string }> {
  const sourceDir = consoleSourceDir();
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [path.join(sourceDir, 'main.ts'), path.join(sourceDir, 'console.css')],
    // Names the outputs only; nothing is written.
    outdir: path.join(sourceDir, 'out'),
    write: false,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    logLevel: 'error',
  });
  const script = result.outputFiles.find((file) => file.path.endsWith('.js'))?.text;
  const style = result.outputFiles.find((file) => file.path.endsWith('.css'))?.text;
  if (script === undefined || style === undefined) throw new Error('the console bundle produced no output');
  return { script, style };
}
