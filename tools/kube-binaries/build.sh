#!/usr/bin/env bash
# Builds the pinned control-plane binaries from Go modules into a machine-level cache.
#
# Usage: tools/kube-binaries/build.sh [component...]
#   components: kubernetes (kube-apiserver, kube-controller-manager, kube-scheduler), etcd, kwok, kustomize
#   default: all of them.
# Output: prints the bin directory on the last line of stdout. Progress goes to stderr.
# The pins live in versions.json beside this script; nothing else names a version.
# Cache: ${KUBEAWS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubeaws}/kube-binaries/<versions-hash>/bin
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
versions="$here/versions.json"
jqv() { node -e "process.stdout.write(require('$versions')['$1'])"; }
K8S="$(jqv kubernetes)"; ETCD="$(jqv etcd)"; KWOK="$(jqv kwok)"; KUSTOMIZE="$(jqv kustomize)"
K8S_MINOR="$(echo "$K8S" | cut -d. -f2)"; K8S_PATCH="$(echo "$K8S" | cut -d. -f3)"
hash="$(sha256sum "$versions" "$here/build.sh" | sha256sum | cut -c1-12)"
cache="${KUBEAWS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubeaws}/kube-binaries/k8s-$K8S-$hash"
bin="$cache/bin"; src="$cache/src"
mkdir -p "$bin" "$src"
export CGO_ENABLED=0 GOFLAGS="-trimpath" GOTOOLCHAIN=local

log() { printf '[kube-binaries] %s\n' "$*" >&2; }
have() { for b in "$@"; do [ -x "$bin/$b" ] || return 1; done; }

build_kubernetes() {
  have kube-apiserver kube-controller-manager kube-scheduler && return 0
  local d="$src/kubernetes"; mkdir -p "$d"
  local staging=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
    cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api cri-client
    cri-streaming csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator
    kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission
    sample-apiserver sample-cli-plugin sample-controller streaming)
  {
    echo "module kubeaws.io/tools/kube-binaries/kubernetes"
    echo; echo "go 1.26.0"; echo
    echo "require k8s.io/kubernetes v$K8S"; echo
    echo "tool ("
    for c in kube-apiserver kube-controller-manager kube-scheduler; do echo "	k8s.io/kubernetes/cmd/$c"; done
    echo ")"; echo; echo "replace ("
    for s in "${staging[@]}"; do echo "	k8s.io/$s => k8s.io/$s v0.$K8S_MINOR.$K8S_PATCH"; done
    echo ")"
  } > "$d/go.mod"
  log "resolving k8s.io/kubernetes v$K8S modules (first run downloads ~1 GiB of module sources)"
  (cd "$d" && go mod tidy >&2)
  local pkg="k8s.io/component-base/version"
  local ld="-s -w -X $pkg.gitVersion=v$K8S -X $pkg.gitMajor=1 -X $pkg.gitMinor=$K8S_MINOR -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  ld="$ld -X k8s.io/client-go/pkg/version.gitVersion=v$K8S -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$K8S_MINOR"
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    have "$c" && continue
    log "building $c v$K8S (several minutes on 2 cores)"
    (cd "$d" && go build -ldflags "$ld" -o "$bin/$c.tmp" "k8s.io/kubernetes/cmd/$c" >&2)
    mv "$bin/$c.tmp" "$bin/$c"
  done
}

build_etcd() {
  have etcd && return 0
  local d="$src/etcd"; mkdir -p "$d"
  cat > "$d/go.mod" <<MOD
module kubeaws.io/tools/kube-binaries/etcd

go 1.26.0

require go.etcd.io/etcd/server/v3 v$ETCD
MOD
  cat > "$d/main.go" <<'MAIN'
// Command etcd runs the etcd server from the pinned go.etcd.io/etcd/server/v3 module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
MAIN
  log "building etcd v$ETCD"
  (cd "$d" && go mod tidy >&2 && go build -ldflags "-s -w" -o "$bin/etcd.tmp" . >&2)
  mv "$bin/etcd.tmp" "$bin/etcd"
}

build_kwok() {
  have kwok kwokctl && return 0
  local d="$src/kwok"; mkdir -p "$d"
  printf 'module kubeaws.io/tools/kube-binaries/kwok\n\ngo 1.26.0\n\nrequire sigs.k8s.io/kwok v%s\n\ntool (\n\tsigs.k8s.io/kwok/cmd/kwok\n\tsigs.k8s.io/kwok/cmd/kwokctl\n)\n' "$KWOK" > "$d/go.mod"
  log "building kwok v$KWOK"
  (cd "$d" && go mod tidy >&2)
  for c in kwok kwokctl; do
    (cd "$d" && go build -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=v$KWOK" -o "$bin/$c.tmp" "sigs.k8s.io/kwok/cmd/$c" >&2)
    mv "$bin/$c.tmp" "$bin/$c"
  done
}

build_kustomize() {
  have kustomize && return 0
  local d="$src/kustomize"; mkdir -p "$d"
  printf 'module kubeaws.io/tools/kube-binaries/kustomize\n\ngo 1.26.0\n\nrequire sigs.k8s.io/kustomize/kustomize/v5 v%s\n\ntool sigs.k8s.io/kustomize/kustomize/v5\n' "$KUSTOMIZE" > "$d/go.mod"
  log "building kustomize v$KUSTOMIZE"
  (cd "$d" && go mod tidy >&2 && go build -ldflags "-s -w" -o "$bin/kustomize.tmp" sigs.k8s.io/kustomize/kustomize/v5 >&2)
  mv "$bin/kustomize.tmp" "$bin/kustomize"
}

targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(etcd kwok kubernetes kustomize)
for t in "${targets[@]}"; do
  case "$t" in
    kubernetes|etcd|kwok|kustomize) "build_$t" ;;
    *) echo "build.sh: unknown component '$t' (expected kubernetes, etcd, kwok or kustomize)" >&2; exit 2 ;;
  esac
done
log "binaries ready in $bin"
echo "$bin"
