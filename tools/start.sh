#!/usr/bin/env bash
# `npm start`: builds the TypeScript packages (nx, cached) and runs `kubeaws up`, which builds the control-plane
# binaries on first run, starts a local cluster, the components and the demo workloads, and shows a live status.
# Arguments are passed to `kubeaws up` (e.g. `npm start -- --kubeconfig ~/.kube/config`).
set -euo pipefail
cd "$(dirname "$0")/.."
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false
npx nx run-many -t build --projects=kubeaws,pdb-controller,downscaler,node-lifecycle-controller,static-egress-controller,metrics-adapter,authnz-webhook --outputStyle=stream >&2
exec node dist/packages/kubeaws/lib/main.js up "$@"
