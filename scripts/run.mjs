#!/usr/bin/env node
// Runs a Warden entry point (`node scripts/run.mjs apps/worker/src/main.ts [args…]`) as one bundled
// ES module: esbuild compiles our TypeScript, workspace packages and most npm dependencies into
// node_modules/.cache/warden/, then it is imported in this same process, so signals, exit codes and
// stdio are the entry point's own. Loading one file instead of ~1,300 modules is measured below.
// This is the developer's path (`npm start`, the npm scripts, the tests): it rebuilds a bundle when a
// source changed. Deployments run the same bundles prebuilt by `npm run build` from dist/.
//
// Start-up of `backup:create` on 2 cores (10 runs each, to `--help`): ~550 ms with every npm
// dependency left external, ~350 ms bundled; skipping esbuild when nothing changed saves ~130 ms more.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bundleOptions } from './bundle-options.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const entry = process.argv[2];
if (!entry) {
  console.error('usage: node scripts/run.mjs <entry.ts> [args…]');
  process.exit(2);
}
const entryPath = path.resolve(root, entry);
// Inside node_modules so the bundle's bare imports resolve to the project's dependencies.
const outDir = path.join(root, 'node_modules', '.cache', 'warden');
mkdirSync(outDir, { recursive: true });
const name = `${path.basename(entryPath, '.ts')}-${createHash('sha1').update(entryPath).digest('hex').slice(0, 8)}`;
const outfile = path.join(outDir, `${name}.mjs`);
const inputsFile = path.join(outDir, `${name}.inputs.json`);

// What a bundle was built from: a rebuild is needed when any of it (or this script) changed.
const buildKey = createHash('sha1')
  .update(readFileSync(fileURLToPath(import.meta.url)))
  .update(readFileSync(fileURLToPath(new URL('bundle-options.mjs', import.meta.url))))
  .digest('hex');
const fingerprint = (file) => {
  const stats = statSync(file);
  return `${stats.size}:${stats.mtimeMs}`;
};

function bundleIsCurrent() {
  try {
    const recorded = JSON.parse(readFileSync(inputsFile, 'utf8'));
    if (recorded.buildKey !== buildKey || recorded.bundle !== fingerprint(outfile)) return false;
    return Object.entries(recorded.inputs).every(
      ([file, print]) => fingerprint(path.resolve(root, file)) === print,
    );
  } catch {
    return false;
  }
}

/** esbuild is a development dependency: a production install (`npm ci --omit=dev`) runs dist/ instead. */
async function loadEsbuild() {
  try {
    return await import('esbuild');
  } catch {
    console.error(
      'scripts/run.mjs needs esbuild, a development dependency: run `npm ci` (without --omit=dev), ' +
        'or `npm run build` once and start the bundles in dist/ (`node dist/api.mjs`).',
    );
    process.exit(1);
  }
}

async function buildBundle() {
  const { build } = await loadEsbuild();
  const result = await build({
    ...bundleOptions({ root }),
    entryPoints: [entryPath],
    outfile,
    write: false,
  });

  // Several processes may start from one tree at once: each writes its own files and renames them
  // into place, so none ever imports a half-written bundle.
  for (const output of result.outputFiles) {
    const temporary = `${output.path}.${process.pid}.tmp`;
    writeFileSync(temporary, output.contents);
    renameSync(temporary, output.path);
  }
  const inputs = Object.fromEntries(
    Object.keys(result.metafile.inputs)
      .filter((file) => !file.includes(':'))
      .map((file) => [file, fingerprint(path.resolve(root, file))]),
  );
  const temporaryInputs = `${inputsFile}.${process.pid}.tmp`;
  writeFileSync(temporaryInputs, JSON.stringify({ buildKey, bundle: fingerprint(outfile), inputs }));
  renameSync(temporaryInputs, inputsFile);
}

if (!bundleIsCurrent()) await buildBundle();

// The release reported to Sentry: the bundle no longer sits where a relative package.json is.
process.env.APP_VERSION ||= JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version;
// The entry point sees the arguments after its own name, as if it had been started directly.
process.argv.splice(1, 2, entryPath);
await import(pathToFileURL(outfile).href);
