#!/usr/bin/env node
// Runs a Warden entry point (`node scripts/run.mjs apps/worker/src/main.ts [args…]`) as one bundled
// ES module: esbuild compiles our TypeScript, workspace packages and most npm dependencies into
// node_modules/.cache/warden/, then it is imported in this same process, so signals, exit codes and
// stdio are the entry point's own. Loading one file instead of ~1,300 modules is measured below.
//
// Start-up of `backup:create` on 2 cores (10 runs each, to `--help`): ~550 ms with every npm
// dependency left external, ~350 ms bundled; skipping esbuild when nothing changed saves ~130 ms more.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

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

/**
 * Left outside the bundle: packages that find their own files at run time (Bull Board's UI, pino's
 * worker-thread transports), native or optional add-ons, Sentry (loaded only when a DSN is set), and
 * Fastify, whose plugins check each other's identity across module instances.
 */
const EXTERNAL_PACKAGES = [
  '@bull-board/',
  '@fastify/',
  '@sentry/',
  'esbuild',
  'fastify',
  'msgpackr-extract',
  'pg-native',
  'pino',
  'thread-stream',
];
const isExternal = (specifier) =>
  EXTERNAL_PACKAGES.some((external) =>
    external.endsWith('/')
      ? specifier.startsWith(external)
      : specifier === external || specifier.startsWith(`${external}/`),
  );

// What a bundle was built from: a rebuild is needed when any of it (or this script) changed.
const buildKey = createHash('sha1')
  .update(readFileSync(fileURLToPath(import.meta.url)))
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

async function buildBundle() {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [entryPath],
    outfile,
    // Input paths in the metafile are relative to this, whatever directory we were started from.
    absWorkingDir: root,
    write: false,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // A map beside the bundle, read only under `NODE_OPTIONS=--enable-source-maps`: loading it on
    // every start would cost ~40 MB of memory and ~50 ms. Without it, stack traces name bundle lines,
    // and the bundle names each source file above its code.
    sourcemap: 'linked',
    sourcesContent: false,
    metafile: true,
    logLevel: 'error',
    // Bundled CommonJS code calls `require` for Node built-ins and reads `__dirname`.
    banner: {
      js: [
        "import { createRequire as __wardenCreateRequire } from 'node:module';",
        "import { fileURLToPath as __wardenFileURLToPath } from 'node:url';",
        'const require = __wardenCreateRequire(import.meta.url);',
        'const __filename = __wardenFileURLToPath(import.meta.url);',
        "const __dirname = __wardenFileURLToPath(new URL('.', import.meta.url));",
      ].join(' '),
    },
    plugins: [
      {
        name: 'external-packages',
        setup(builder) {
          builder.onResolve({ filter: /^[^./]/ }, (args) =>
            isExternal(args.path) ? { path: args.path, external: true } : undefined,
          );
        },
      },
    ],
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
