#!/usr/bin/env bash
# Makes Debian's Prometheus server available for the metrics-adapter's end-to-end tests
# (docs/metrics-adapter.md#ma-local). Installs the `prometheus` package with apt when the binary is missing;
# never starts the system service (tests start their own server on a free loopback port). Prints the binary path.
set -euo pipefail
bin="$(command -v prometheus || true)"
if [ -z "$bin" ]; then
  echo "installing Debian's prometheus package (first run only)" >&2
  sudo_cmd=""
  [ "$(id -u)" = "0" ] || sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # keep the package's service from starting in containers without an init system
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | $sudo_cmd tee "$policy" >/dev/null
    $sudo_cmd chmod +x "$policy"
  fi
  ($sudo_cmd apt-get install -y --no-install-recommends prometheus >&2 || { $sudo_cmd apt-get update >&2 && $sudo_cmd apt-get install -y --no-install-recommends prometheus >&2; }) || status=$?
  [ -n "$policy" ] && $sudo_cmd rm -f "$policy"
  [ "${status:-0}" = "0" ] || exit "$status"
  bin="$(command -v prometheus)"
fi
echo "$bin"
