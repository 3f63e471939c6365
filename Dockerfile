# syntax=docker/dockerfile:1
#
# Warden image: one image for both processes, running the bundles `npm run build` wrote to dist/.
#   api (default):  docker run warden
#   worker:         docker run warden node dist/worker.mjs
#   one-off backup: docker run --rm warden node dist/backup-create.mjs
# It needs no writable path but its two volumes and /tmp: `--read-only --tmpfs /tmp` works.
#
# PostgreSQL client: the newest minor of major PG_MAJOR (18 by default) from the PostgreSQL project's
# APT repository (PGDG); a major Debian itself ships (15 in bookworm) comes from Debian alone, and
# the build then reaches no other repository. pg_dump N dumps servers 9.2 to N.

ARG NODE_IMAGE=node:24-bookworm-slim

# --- dependencies: everything from the lockfile, for the build -------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
# Manifests first, so the dependency layers are rebuilt only when they change. Every workspace needs
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
COPY packages/names/package.json packages/names/
COPY packages/notify/package.json packages/notify/
COPY packages/probes/package.json packages/probes/
COPY packages/queue/package.json packages/queue/
COPY packages/storage/package.json packages/storage/
RUN npm ci

# --- production dependencies: what the bundles load at run time -------------------------------
FROM deps AS production-deps
# TypeScript (23 MB) survives `--omit=dev`: the lockfile marks it devOptional, as valibot (under
# @bull-board/api) names it an optional peer for its types. Nothing loads it at run time — the
# runtime stage's `build.mjs --check` imports every package the bundles need. The workspace links
# go too: the bundles contain Warden's own packages.
RUN npm prune --omit=dev \
 && rm -rf node_modules/typescript node_modules/.bin/tsc node_modules/.bin/tsserver \
      node_modules/@warden node_modules/.package-lock.json

# --- build: bundle every entry point into dist/ -----------------------------------------------
FROM deps AS build
COPY . .
RUN npm run build

# --- runtime ------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime

ARG PG_MAJOR=18
# Debian's own client when Debian has this major (no other repository is touched). Otherwise PGDG:
# Debian's postgresql-common ships the PGDG signing key and setup script, so the key arrives through
# Debian's signed archive. A PGDG that cannot be reached stops the build here, saying so. The
# repository entry and postgresql-common are removed again: the image keeps no third-party source.
RUN set -eu; \
    export DEBIAN_FRONTEND=noninteractive; \
    client="postgresql-client-${PG_MAJOR}"; \
    apt-get update; \
    if apt-cache show "$client" >/dev/null 2>&1; then \
      echo "PostgreSQL client ${PG_MAJOR}: Debian's package"; \
    else \
      echo "PostgreSQL client ${PG_MAJOR}: not in Debian; adding the PostgreSQL APT repository (PGDG)"; \
      apt-get install -y --no-install-recommends ca-certificates postgresql-common; \
      if ! /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y || ! apt-cache show "$client" >/dev/null 2>&1; then \
        echo "error: $client is not available: the PostgreSQL APT repository (PGDG) could not be set up or reached." >&2; \
        echo "error: build with --build-arg PG_MAJOR=15 for Debian's own client (dumps servers 9.2 to 15)." >&2; \
        exit 1; \
      fi; \
    fi; \
    apt-get install -y --no-install-recommends ca-certificates "$client" isal pigz zstd tini; \
    rm -f /etc/apt/sources.list.d/pgdg.sources /etc/apt/sources.list.d/pgdg.list; \
    if dpkg -s postgresql-common >/dev/null 2>&1; then apt-get purge -y --auto-remove postgresql-common; fi; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin; \
    if grep -rl postgresql.org /etc/apt/ 2>/dev/null; then echo "error: a PGDG source is left in /etc/apt" >&2; exit 1; fi; \
    "/usr/lib/postgresql/${PG_MAJOR}/bin/pg_dump" --version; \
    igzip --version; pigz --version; zstd --version; tini --version

# A fixed uid/gid so volume ownership is predictable across rebuilds and hosts.
RUN groupadd --system --gid 10001 warden \
 && useradd --system --uid 10001 --gid warden --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin warden \
 && install -d -o warden -g warden -m 0750 /var/lib/warden /var/lib/warden/spool /var/lib/warden/backups

WORKDIR /app
# The code stays owned by root and is never written at run time: the root filesystem may be
# read-only.
COPY --from=production-deps /app/node_modules /app/node_modules
COPY --from=build /app/dist /app/dist
COPY package.json /app/
COPY scripts/build.mjs scripts/bundle-options.mjs scripts/healthcheck.mjs /app/scripts/
# Fail the build, not the first deploy, when a package the bundles load was pruned.
RUN node scripts/build.mjs --check

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

USER warden
EXPOSE 3000 9464
VOLUME ["/var/lib/warden/spool", "/var/lib/warden/backups"]
# A 1 MB young generation: a backup's stream buffers are freed within milliseconds instead of piling
# up to V8's 16 MB default; measured 20-30 MB less peak RSS per backup and no slower.
ENV NODE_OPTIONS=--max-semi-space-size=1

# The API's /health; the worker's service overrides it with `node scripts/healthcheck.mjs worker`
# (its metrics port, 9464).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "scripts/healthcheck.mjs", "api"]

# tini reaps zombies (pg_dump, the compressor) and forwards SIGTERM to node, which runs the bundle
# directly: `npm start` would put npm and a shell in between, and npm exits on SIGTERM without
# passing it on (seen with npm 11), so the graceful drain would never run.
ENTRYPOINT ["tini", "--"]
CMD ["node", "dist/api.mjs"]
