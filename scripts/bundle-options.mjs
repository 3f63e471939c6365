// esbuild settings shared by `npm run build` (scripts/build.mjs, the bundles the image runs) and by
// scripts/run.mjs (a developer's `npm start`, bundled on demand): both must produce the same program.

/**
 * Left outside the bundle: packages that find their own files at run time (Bull Board's UI, pino's
 * worker-thread transports), native or optional add-ons, Sentry (loaded only when a DSN is set), and
 * Fastify, whose plugins check each other's identity across module instances.
 */
export const EXTERNAL_PACKAGES = [
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

export const isExternal = (specifier) =>
  EXTERNAL_PACKAGES.some((external) =>
    external.endsWith('/')
      ? specifier.startsWith(external)
      : specifier === external || specifier.startsWith(`${external}/`),
  );

/** The oldest Node the bundles must run on: the lowest major in package.json's `engines`. */
export const NODE_TARGET = 'node20';

/**
 * Options for bundling from `root`; the caller adds `entryPoints` and `outfile` or `outdir`.
 * `prelude` is extra code placed at the top of every output file, before any bundled module runs.
 */
export function bundleOptions({ root, prelude = '' }) {
  return {
    // Input paths in the metafile are relative to this, whatever directory we were started from.
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: NODE_TARGET,
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
        prelude,
      ]
        .filter(Boolean)
        .join(' '),
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
  };
}
