#!/usr/bin/env bash
# `npm run bench [-- <name> [options]]`: builds the packages and runs a benchmark of bench/ against the local
# control plane. Without a name every benchmark runs. Results go to docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false
npx nx run-many -t build --outputStyle=stream >&2
names=()
if [ $# -gt 0 ] && [[ "$1" != --* ]]; then names=("$1"); shift; else for f in bench/*.bench.mts; do n="$(basename "$f")"; names+=("${n%.bench.mts}"); done; fi
for n in "${names[@]}"; do
  [ -f "bench/$n.bench.mts" ] || { echo "no benchmark bench/$n.bench.mts" >&2; exit 2; }
  node "bench/$n.bench.mts" "$@"
done
