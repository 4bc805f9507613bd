#!/usr/bin/env bash
# Creates (once) a machine-level Python venv with the pinned tools of tools/python/requirements.txt
# (moto[server], cfn-lint) and prints its directory on stdout. Idempotent: the venv is keyed by the hash of
# requirements.txt, so a changed pin builds a new one and an unchanged one is reused.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
req="$here/requirements.txt"
hash="$(sha256sum "$req" | cut -c1-12)"
venv="${KUBEAWS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubeaws}/python/$hash"
if [ ! -x "$venv/.ready" ]; then
  echo "[python] creating venv $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --disable-pip-version-check -q -r "$req" >&2
  printf '#!/bin/sh\n' > "$venv/.ready" && chmod +x "$venv/.ready"
fi
echo "$venv"
