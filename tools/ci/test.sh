#!/usr/bin/env bash
# The project's test command (`npm test`). On a fresh machine it installs and builds everything it needs:
#   - the pinned control-plane binaries (Go modules → machine-level cache, see tools/kube-binaries),
#   - the pinned Python tools (moto) in a machine-level venv (packages/testenv),
#   - buildah and debootstrap (apt-get) for the container images, built and run per component (docs/images.md),
# then runs lint, typecheck, unit tests and build for the affected projects (all of them when no base
# commit can be resolved), then the integration suites one at a time against the real local cluster.
# Last line: `N passed, M failed`, summed over every jest project. Exit non-zero on any failure or when
# no test ran.
set -uo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"

export NODE_OPTIONS="--experimental-vm-modules${NODE_OPTIONS:+ $NODE_OPTIONS}"
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false NX_SKIP_NX_CACHE="${NX_SKIP_NX_CACHE:-false}"
cache_root="${KUBEAWS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubeaws}"
export NX_CACHE_DIRECTORY="${NX_CACHE_DIRECTORY:-$cache_root/nx}"
results="$(mktemp -d "${TMPDIR:-/tmp}/kubeaws-test-results.XXXXXX")"
export KUBEAWS_TEST_RESULTS_DIR="$results"
status=0
step() { printf '\n==> %s\n' "$*"; }

step "node $(node --version), go $(go env GOVERSION 2>/dev/null || echo missing), python $(python3 --version 2>&1)"

step "control-plane binaries (built from Go modules on first run, cached in $cache_root/kube-binaries)"
bash tools/kube-binaries/build.sh kubernetes etcd kwok kustomize || { echo "control-plane build failed" >&2; status=1; }

step "python tools (moto, cfn-lint) in a machine-level venv"
bash tools/python/ensure-venv.sh >/dev/null || { echo "python tools install failed" >&2; status=1; }

step "Debian's Prometheus for the metrics-adapter end-to-end tests (apt, first run only)"
bash tools/prometheus/ensure-prometheus.sh >/dev/null || { echo "prometheus install failed" >&2; status=1; }

# Resolve the base commit for nx affected (docs/infra.md#infra-ci).
base="${NX_BASE:-}"
if [ -z "$base" ] && git rev-parse -q --verify origin/main >/dev/null 2>&1; then
  if ! git merge-base --is-ancestor HEAD origin/main; then base="$(git merge-base HEAD origin/main)"; fi
fi
if [ -n "$base" ]; then
  step "affected projects since $base"
  sel=(affected --base="$base")
else
  step "no base commit: running every project"
  sel=(run-many --all)
fi

step "lint, typecheck, unit tests, build, bundles, Dockerfile checks"
npx nx "${sel[@]}" -t lint typecheck test build bundle image-check --parallel=2 --nxBail=false --outputStyle=stream || status=1

step "image tools (buildah, debootstrap; installed with apt-get when missing, docs/images.md)"
bash tools/images/ensure-tools.sh || { echo "image tools install failed" >&2; status=1; }

step "cfn-lint, bundle smoke, image builds and runs, integration tests (one project at a time, each with its own local cluster)"
npx nx "${sel[@]}" -t cfn-lint bundle-smoke image-build image-run integration-test --parallel=1 --nxBail=false --outputStyle=stream || status=1

# Sum the per-project results. A project whose jest run wrote no result (crashed before reporting)
# counts as one failure.
summary="$(node - "$results" "${sel[@]}" <<'JS'
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const [dir, ...sel] = process.argv.slice(2);
let passed = 0, failed = 0;
const expected = [];
for (const [target, kind] of [['test', 'unit'], ['image-check', 'image-check'], ['cfn-lint', 'cfn-lint'], ['bundle-smoke', 'bundle-smoke'], ['image-run', 'image-run'], ['integration-test', 'integration']]) {
  const args = sel[0] === 'affected' ? ['show', 'projects', '--affected', sel[1], '--withTarget', target] : ['show', 'projects', '--withTarget', target];
  const out = execFileSync('npx', ['nx', ...args], { encoding: 'utf8' });
  for (const p of out.split('\n').map((s) => s.trim()).filter(Boolean)) expected.push(`${p}.${kind}`);
}
for (const name of expected) {
  const file = path.join(dir, `${name}.json`);
  if (!fs.existsSync(file)) { console.error(`no test results from ${name}`); failed += 1; continue; }
  const r = JSON.parse(fs.readFileSync(file, 'utf8'));
  console.error(`${name}: ${r.passed} passed, ${r.failed} failed`);
  passed += r.passed; failed += r.failed;
}
process.stdout.write(`${passed} ${failed}`);
JS
)"
passed="${summary%% *}"; failed="${summary##* }"
[ -n "$passed" ] || { passed=0; failed=$((failed + 1)); }
[ "$failed" = "0" ] || status=1
[ "$passed" != "0" ] || { echo "no test ran" >&2; status=1; }
rm -rf "$results"
echo "$passed passed, $failed failed"
exit "$status"
