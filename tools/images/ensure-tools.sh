#!/usr/bin/env bash
# Installs the image tooling when missing (docs/images.md): buildah (daemonless OCI builds, --isolation chroot)
# and debootstrap (the local Debian base the image tests build on), from the machine's Debian apt sources.
# Idempotent: with both present it only prints their versions. Needs root (apt-get) on first run.
set -euo pipefail
need=()
command -v buildah >/dev/null 2>&1 || need+=(buildah)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
# the keyring debootstrap verifies Debian release files with
[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || need+=(debian-archive-keyring)
if [ "${#need[@]}" -gt 0 ]; then
  echo "installing ${need[*]} with apt-get" >&2
  if [ "$(id -u)" != 0 ]; then echo "image tools missing (${need[*]}) and not root: install them with apt-get" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
echo "buildah $(buildah --version | awk '{print $3}'), debootstrap $(dpkg-query -W -f='${Version}' debootstrap)"
