#!/usr/bin/env node
// `npm run build`: bundles every entry point that an npm script runs through scripts/run.mjs into
// dist/<name>.mjs (apps/<app>/src/main.ts becomes dist/<app>.mjs, a CLI keeps its file name), so a
// deployment runs `node dist/api.mjs` with no compiler and no writable application directory. Code
// the entry points share goes into dist/chunks/ once: 8.5 MB in all instead of ~50 MB for six
// self-contained bundles.
//
// `node scripts/build.mjs --check` (no esbuild needed, for a pruned production tree) imports every
// package the bundles left external and that was installed when they were built, so a dependency
// lost by `npm prune --omit=dev` fails the image build instead of the first start. An external that
// was not installed even then (pg-native, for one) is an optional add-on its user loads in a try.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleOptions } from './bundle-options.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const distDir = path.join(root, 'dist');
const buildInfoFile = path.join(distDir, 'build-info.json');
const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

/** Loaded with `require(name)` at run time (packages/notify), so esbuild never sees the import. */
const REQUIRED_BY_NAME = ['@sentry/node'];

/** Entry points named by `scripts/run.mjs <entry.ts>` in package.json's scripts, by dist name. */
function entryPoints(scripts) {
  const entries = {};
  for (const command of Object.values(scripts)) {
    for (const [, source] of command.matchAll(/scripts\/run\.mjs\s+(\S+\.ts)\b/g)) {
      const app = /^apps\/([^/]+)\/src\/main\.ts$/.exec(source)?.[1];
      const name = app ?? path.basename(source, '.ts');
      if (entries[name] !== undefined && entries[name] !== source) {
        throw new Error(`dist/${name}.mjs would be built from both ${entries[name]} and ${source}`);
      }
      entries[name] = source;
    }
  }
  return entries;
}

function isInstalled(specifier) {
  try {
    import.meta.resolve(specifier);
    return true;
  } catch {
    return false;
  }
}

async function build() {
  const { build: esbuild } = await import('esbuild');
  const started = Date.now();
  const entries = entryPoints(manifest.scripts);
  const staging = `${distDir}.${process.pid}.tmp`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const result = await esbuild({
    // The release reported to Sentry unless APP_VERSION says otherwise: a bundle has no
    // package.json beside it to read the version from.
    ...bundleOptions({ root, prelude: `process.env.APP_VERSION ||= ${JSON.stringify(manifest.version)};` }),
    entryPoints: entries,
    outdir: staging,
    outExtension: { '.js': '.mjs' },
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
  });
  const externals = new Set(REQUIRED_BY_NAME);
  for (const output of Object.values(result.metafile.outputs)) {
    for (const imported of output.imports) {
      if (imported.external && !isBuiltin(imported.path)) externals.add(imported.path);
    }
  }
  const buildInfo = {
    version: manifest.version,
    entries,
    externals: [...externals].filter(isInstalled).sort(),
    optional: [...externals].filter((specifier) => !isInstalled(specifier)).sort(),
  };
  // The operator console's browser script and style sheet, served by dist/api.mjs. Imported here,
  // not at the top: `--check` runs where only dist/ and the production dependencies are.
  const { buildConsole } = await import('../apps/api/console/build.mjs');
  await buildConsole({ outdir: path.join(staging, 'console') });
  writeFileSync(path.join(staging, 'build-info.json'), `${JSON.stringify(buildInfo, null, 2)}\n`);
  // Swap the whole directory at once: a process starting meanwhile sees the old bundles or the new.
  rmSync(distDir, { recursive: true, force: true });
  renameSync(staging, distDir);
  for (const [name, source] of Object.entries(entries)) console.log(`dist/${name}.mjs  ${source}`);
  console.log(`built ${Object.keys(entries).length} entry points in ${Date.now() - started} ms`);
}

async function checkExternals() {
  const { externals } = JSON.parse(readFileSync(buildInfoFile, 'utf8'));
  const missing = [];
  for (const specifier of externals) {
    try {
      await import(specifier);
    } catch (err) {
      missing.push(`${specifier}: ${err.message.split('\n')[0]}`);
    }
  }
  if (missing.length > 0) {
    console.error(`dist: ${missing.length} external package(s) cannot be loaded:\n  ${missing.join('\n  ')}`);
    process.exit(1);
  }
  console.log(`dist: all ${externals.length} external packages load`);
}

if (process.argv.includes('--check')) await checkExternals();
else await build();
