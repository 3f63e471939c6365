# syntax=docker/dockerfile:1
#
# Warden image: one image for both processes.
#   api (default):  docker run warden
#   worker:         docker run warden node scripts/run.mjs apps/worker/src/main.ts
#   one-off backup: docker run --rm warden node scripts/run.mjs apps/worker/src/cli/backup-create.ts
#
# Supported PostgreSQL servers: pg_dump/psql ${PG_MAJOR} (17 by default) dump and restore servers
# 9.2 to 17. A server newer than the client cannot be dumped (Warden's preflight reports the
# mismatch before dumping): build with --build-arg PG_MAJOR=18 for PostgreSQL 18 servers.

ARG NODE_IMAGE=node:20-bookworm-slim

# --- build: install dependencies from the lockfile, then drop dev tooling ----------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

# Manifests first, so the dependency layer is rebuilt only when they change. Every workspace needs
# its package.json here, or `npm ci` finds the lockfile out of sync (test/deploy-compose.test.ts
# checks that this list matches apps/* and packages/*).
COPY package.json package-lock.json ./
COPY apps/api/package.json apps/api/
COPY apps/worker/package.json apps/worker/
COPY packages/backup/package.json packages/backup/
COPY packages/bootstrap/package.json packages/bootstrap/
COPY packages/catalog/package.json packages/catalog/
COPY packages/config/package.json packages/config/
COPY packages/errors/package.json packages/errors/
COPY packages/logging/package.json packages/logging/
COPY packages/metrics/package.json packages/metrics/
COPY packages/notify/package.json packages/notify/
COPY packages/probes/package.json packages/probes/
COPY packages/queue/package.json packages/queue/
COPY packages/storage/package.json packages/storage/
RUN npm ci

# Warden runs its TypeScript through scripts/run.mjs (esbuild, a dependency); the build-time import
# check below uses tsx, a devDependency, so promote tsx in this image's copy of package.json, then
# prune: tsx and esbuild stay, while biome, vitest,
# playwright-core, s3rver and autocannon (~160 MB) go. The lockfile still pins tsx's version.
# (Keeping the full `npm ci` tree would work too, but ships test tooling into production.)
RUN node -e " \
      const fs = require('node:fs'); \
      const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8')); \
      const range = pkg.devDependencies?.tsx; \
      if (range) { \
        pkg.dependencies = { ...pkg.dependencies, tsx: range }; \
        delete pkg.devDependencies.tsx; \
        fs.writeFileSync('package.json', JSON.stringify(pkg, null, 2) + '\n'); \
      }" \
 && npm prune --omit=dev

COPY . .

# Fail the build, not the first deploy, when a package needs something that was pruned.
RUN node --import tsx --input-type=module -e " \
      import { readdirSync } from 'node:fs'; \
      for (const name of readdirSync('packages')) await import('@warden/' + name);"

# --- runtime ------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime

ARG PG_MAJOR=17
# Debian's postgresql-common ships the PGDG signing key and the PGDG setup script, so the
# repository key arrives through Debian's signed archive instead of an unauthenticated download.
# apt then installs the newest postgresql-client-${PG_MAJOR} minor from apt.postgresql.org
# (17.6+ understands the \restrict lines that pg_dump 15.14+/17.6+ writes).
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates postgresql-common; \
    /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y; \
    apt-get install -y --no-install-recommends "postgresql-client-${PG_MAJOR}" isal pigz zstd tini; \
    rm -rf /var/lib/apt/lists/*; \
    "/usr/lib/postgresql/${PG_MAJOR}/bin/pg_dump" --version; \
    igzip --version; pigz --version; zstd --version; tini --version

# A fixed uid/gid so volume ownership is predictable across rebuilds and hosts.
RUN groupadd --system --gid 10001 warden \
 && useradd --system --uid 10001 --gid warden --create-home --home-dir /home/warden \
      --shell /usr/sbin/nologin warden \
 && install -d -o warden -g warden -m 0750 /var/lib/warden /var/lib/warden/spool /var/lib/warden/backups

WORKDIR /app
# The code stays owned by root: the service user can read it but not change it.
COPY --from=build /app /app

ARG APP_VERSION=
# PG_DUMP_PATH/PSQL_PATH name the client binaries directly: Debian's /usr/bin/pg_dump is a Perl
# wrapper that picks a version by itself.
ENV NODE_ENV=production \
    APP_VERSION=${APP_VERSION} \
    HOST=0.0.0.0 \
    PORT=3000 \
    WORKER_METRICS_PORT=9464 \
    BACKUP_SPOOL_DIR=/var/lib/warden/spool \
    BACKUP_DIR=/var/lib/warden/backups \
    PG_DUMP_PATH=/usr/lib/postgresql/${PG_MAJOR}/bin/pg_dump \
    PSQL_PATH=/usr/lib/postgresql/${PG_MAJOR}/bin/psql

# scripts/run.mjs bundles the entry point into node_modules/.cache/warden at start: let the app
# user write there (and nowhere else in /app).
RUN mkdir -p /app/node_modules/.cache/warden && chown warden:warden /app/node_modules/.cache/warden

USER warden
EXPOSE 3000 9464
# A 1 MB young generation: a backup's stream buffers are freed within milliseconds instead of piling
# up to V8's 16 MB default; measured 20-30 MB less peak RSS per backup and no slower.
ENV NODE_OPTIONS=--max-semi-space-size=1

# Liveness of the API; compose overrides it for the worker (its metrics port, 9464).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health', { signal: AbortSignal.timeout(4000) }).then((res) => process.exit(res.ok ? 0 : 1), () => process.exit(1))"]

# tini reaps zombies (pg_dump, pigz) and forwards SIGTERM. The app runs as `node scripts/run.mjs`,
# one process (it bundles the TypeScript with esbuild and imports it in-process): `npx` would put
# npm and a shell in between, and npm exits on SIGTERM without passing it on
# (seen with npm 11), so the graceful drain would never run.
ENTRYPOINT ["tini", "--"]
CMD ["node", "scripts/run.mjs", "apps/api/src/main.ts"]
