#!/usr/bin/env bash
# Builds container images with buildah (no Docker engine), for tests and local use (docs/images.md).
#
#   tools/images/build.sh base              the local stand-in of the public Node base: a Debian minbase made by
#                                           debootstrap (same release as Dockerfile.base's FROM) plus the pinned
#                                           Node binary from node_modules/node, user node 1000:1000
#                                           (docs/adr/0004-image-base.md). Prints its image name.
#   tools/images/build.sh <service>...      Dockerfile.base with BASE_IMAGE=<that local base>, then
#                                           packages/<service>/Dockerfile on it; tags kubeaws/<service>:<version>
#                                           (the package version, the tag the manifests use). Needs the bundle
#                                           (nx run <service>:bundle). Prints one JSON line per image.
#
# Everything lives under ${KUBEAWS_CACHE_DIR:-~/.cache/kubeaws}/images: buildah's storage (images and cached layers),
# the downloaded .debs. The local base is keyed by its inputs (Debian suite, Node binary, this script), so a warm
# run reuses it; Dockerfile layers are reused by buildah (--layers). Installs buildah/debootstrap when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
cache="${KUBEAWS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubeaws}/images"
mkdir -p "$cache/debs"
bash tools/images/ensure-tools.sh >&2

# Same buildah storage for every call (tests, docs): outside the repository, under the cache.
export BUILDAH_ISOLATION=chroot
bh() { buildah --root "$cache/storage" --runroot "$cache/run" --storage-driver "${KUBEAWS_BUILDAH_DRIVER:-overlay}" "$@"; }

# Debian release of the public base: the suite in Dockerfile.base's FROM tag (node:${NODE_VERSION}-<suite>-slim).
suite="$(sed -nE 's/^ARG BASE_IMAGE=node:\$\{NODE_VERSION\}-([a-z]+)-slim$/\1/p' Dockerfile.base)"
[ -n "$suite" ] || { echo "cannot read the Debian suite from Dockerfile.base (ARG BASE_IMAGE=node:\${NODE_VERSION}-<suite>-slim)" >&2; exit 1; }
mirror="${KUBEAWS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
node_bin="$root/node_modules/node/bin/node"
node_version="$(node -p "require('./node_modules/node/package.json').version")"
[ -x "$node_bin" ] || { echo "no pinned Node binary at $node_bin: run npm ci" >&2; exit 1; }

base_image() {
  local key
  key="$( { echo "$suite $mirror"; sha256sum "$node_bin" | cut -d' ' -f1; sed -n '/^build_base()/,/^}/p' "$root/tools/images/build.sh"; dpkg-query -W -f='${Version}' debootstrap; } | sha256sum | cut -c1-12)"
  echo "localhost/kubeaws/node-local:${node_version}-${suite}-slim-${key}"
}

build_base() {
  local image="$1" t0=$SECONDS ctr mnt
  echo "building the local base $image (debootstrap $suite minbase + node $node_version)" >&2
  ctr="$(bh from --name "kubeaws-base-$$" scratch)"
  trap 'bh rm "$ctr" >/dev/null 2>&1 || true' RETURN
  mnt="$(bh mount "$ctr")"
  debootstrap --variant=minbase --cache-dir="$cache/debs" "$suite" "$mnt" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
    { tail -20 "$cache/debootstrap.log" >&2; echo "debootstrap failed (log: $cache/debootstrap.log)" >&2; return 1; }
  # apt sources as in the Debian images: the release, its updates and security (deb822).
  rm -f "$mnt/etc/apt/sources.list"
  cat >"$mnt/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  # Node as the official image installs it: /usr/local/bin/node, user and group node 1000:1000.
  install -m 0755 "$node_bin" "$mnt/usr/local/bin/node"
  ln -sf node "$mnt/usr/local/bin/nodejs"
  chroot "$mnt" groupadd --gid 1000 node
  chroot "$mnt" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  # Slimmed as the Debian container images are: no cached .debs or apt lists, no docs but the copyrights, no man
  # pages, info or translations, also for packages installed later (dpkg path-exclude, apt post-invoke clean).
  cat >"$mnt/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CFG
  cat >"$mnt/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
CFG
  find "$mnt/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$mnt/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$mnt"/usr/share/man/* "$mnt"/usr/share/info/*
  find "$mnt/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  rm -rf "$mnt"/var/lib/apt/lists/* "$mnt"/var/cache/apt/archives/*.deb "$mnt"/var/cache/apt/*.bin \
    "$mnt"/var/log/*.log "$mnt"/var/cache/debconf/*-old
  bh umount "$ctr" >/dev/null
  bh config --env "NODE_VERSION=$node_version" --cmd '["node"]' \
    --label "io.kubeaws.local-base=debootstrap $suite minbase + node $node_version" "$ctr"
  bh commit --quiet --rm "$ctr" "$image" >/dev/null
  trap - RETURN
  echo "built $image in $((SECONDS - t0)) s" >&2
}

ensure_base() {
  local image
  image="$(base_image)"
  if ! bh inspect --type image "$image" >/dev/null 2>&1; then
    # Every image and cached layer in the storage descends from an earlier base: drop them (not those a container
    # still uses), so the storage holds one base and what is built on it.
    bh rmi --all >/dev/null 2>&1 || true
    build_base "$image"
  fi
  echo "$image"
}

build_service() {
  local svc="$1" base="$2" version t0=$SECONDS tag
  [ -f "packages/$svc/Dockerfile" ] || { echo "packages/$svc/Dockerfile missing" >&2; return 1; }
  [ -f "dist/packages/$svc/bundle/main.mjs" ] || { echo "no bundle for $svc: nx run $svc:bundle" >&2; return 1; }
  version="$(node -p "require('./packages/$svc/package.json').version")"
  # kubeaws/base: Dockerfile.base on the local Node base; tagged by the base it is built on.
  bh build --quiet --layers --isolation chroot -f Dockerfile.base --build-arg "BASE_IMAGE=$base" \
    --build-arg "VERSION=$version" -t "localhost/kubeaws/base:$version" . >/dev/null
  tag="localhost/kubeaws/$svc:$version"
  bh build --quiet --layers --isolation chroot -f "packages/$svc/Dockerfile" --build-arg "BASE_IMAGE=localhost/kubeaws/base:$version" \
    -t "$tag" . >/dev/null
  local seconds=$((SECONDS - t0))
  bh inspect --type image "$tag" | node -e '
    const [svc, tag, base, seconds, size] = process.argv.slice(1);
    const i = JSON.parse(require("fs").readFileSync(0, "utf8"));
    console.log(JSON.stringify({ service: svc, image: tag, base, buildSeconds: Number(seconds), size,
      layers: i.OCIv1.rootfs.diff_ids.length, user: i.OCIv1.config.User }));' \
    "$svc" "$tag" "$base" "$seconds" "$(bh images --format '{{.Size}}' "$tag")"
}

# One build at a time per cache (nx may run several image-build targets at once): builds run in sequence and share
# one base and its layers.
lock() { exec 9>"$cache/build.lock"; flock 9; }
case "${1:-}" in
  '') echo "usage: build.sh base | <service>... | buildah <args>" >&2; exit 2 ;;
  base) lock; ensure_base ;;
  buildah) shift; bh "$@" ;;
  *) lock; base="$(ensure_base)"; for svc in "$@"; do build_service "$svc" "$base"; done ;;
esac
