// Bundles the console (main.ts and console.css) for the browser. Used by the API when it serves the
// console from sources, and by `npm run build`, which writes the result to dist/console/.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const sourceDir = path.dirname(fileURLToPath(import.meta.url));

/**
 * `outdir` given: writes console.js and console.css there. Without it: builds in memory and
 * resolves with `{ script, style }`.
 */
export async function buildConsole({ outdir } = {}) {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: {
      console: path.join(sourceDir, 'main.ts'),
      'console-style': path.join(sourceDir, 'console.css'),
    },
    outdir: outdir ?? path.join(sourceDir, 'out'),
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
  if (outdir !== undefined) {
    const { mkdirSync, writeFileSync } = await import('node:fs');
    mkdirSync(outdir, { recursive: true });
    writeFileSync(path.join(outdir, 'console.js'), script);
    writeFileSync(path.join(outdir, 'console.css'), style);
  }
  return { script, style };
}
