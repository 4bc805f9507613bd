#!/usr/bin/env bash
# Builds the pinned control-plane binaries from Go modules into a machine-level cache.
#
# Usage: tools/kube-binaries/build.sh [component...]
#   components: kubernetes (kube-apiserver, kube-controller-manager, kube-scheduler), etcd, kwok, kustomize
#   default: all of them.
# Output: prints the bin directory on the last line of stdout. Progress goes to stderr.
# The pins live in versions.json beside this script; nothing else names a version.
# Cache: ${KUBEAWS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubeaws}/kube-binaries/
#   <component>-<version>-r<RECIPE>/{src,bin}  one folder per component, so bumping one pin rebuilds one tool;
#   bin-<hash of versions.json>/               symlinks to the binaries of the current pins (printed at the end).
# Bump RECIPE when a change to this script changes what gets built (flags, ldflags).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
versions="$here/versions.json"
jqv() { node -e "process.stdout.write(require('$versions')['$1'])"; }
K8S="$(jqv kubernetes)"; ETCD="$(jqv etcd)"; KWOK="$(jqv kwok)"; KUSTOMIZE="$(jqv kustomize)"
K8S_MINOR="$(echo "$K8S" | cut -d. -f2)"; K8S_PATCH="$(echo "$K8S" | cut -d. -f3)"
RECIPE=1
cache="${KUBEAWS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubeaws}/kube-binaries"
bin="$cache/bin-$(sha256sum "$versions" | cut -c1-12)-r$RECIPE"
mkdir -p "$bin"
export CGO_ENABLED=0 GOFLAGS="-trimpath" GOTOOLCHAIN=local

log() { printf '[kube-binaries] %s\n' "$*" >&2; }
have() { for b in "$@"; do [ -x "$bin/$b" ] || return 1; done; }
# use <component> <version>: sets $src and $out for the component's own cache folder.
use() { local dir="$cache/$1-$2-r$RECIPE"; src="$dir/src"; out="$dir/bin"; mkdir -p "$src" "$out"; }
# link <out> <name...>: exposes built binaries in the pinned bin folder.
link() { local o="$1"; shift; for b in "$@"; do ln -sfn "$o/$b" "$bin/$b"; done; }

build_kubernetes() {
  have kube-apiserver kube-controller-manager kube-scheduler && return 0
  use kubernetes "$K8S"; local d="$src"
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
    if [ ! -x "$out/$c" ]; then
      log "building $c v$K8S (several minutes on 2 cores)"
      (cd "$d" && go build -ldflags "$ld" -o "$out/$c.tmp" "k8s.io/kubernetes/cmd/$c" >&2)
      mv "$out/$c.tmp" "$out/$c"
    fi
  done
  link "$out" kube-apiserver kube-controller-manager kube-scheduler
}

build_etcd() {
  have etcd && return 0
  use etcd "$ETCD"; local d="$src"
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
  if [ ! -x "$out/etcd" ]; then
    log "building etcd v$ETCD"
    (cd "$d" && go mod tidy >&2 && go build -ldflags "-s -w" -o "$out/etcd.tmp" . >&2)
    mv "$out/etcd.tmp" "$out/etcd"
  fi
  link "$out" etcd
}

build_kwok() {
  have kwok kwokctl && return 0
  use kwok "$KWOK"; local d="$src"
  printf 'module kubeaws.io/tools/kube-binaries/kwok\n\ngo 1.26.0\n\nrequire sigs.k8s.io/kwok v%s\n\ntool (\n\tsigs.k8s.io/kwok/cmd/kwok\n\tsigs.k8s.io/kwok/cmd/kwokctl\n)\n' "$KWOK" > "$d/go.mod"
  for c in kwok kwokctl; do
    if [ ! -x "$out/$c" ]; then
      log "building $c v$KWOK"
      (cd "$d" && go mod tidy >&2 && go build -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=v$KWOK" -o "$out/$c.tmp" "sigs.k8s.io/kwok/cmd/$c" >&2)
      mv "$out/$c.tmp" "$out/$c"
    fi
  done
  link "$out" kwok kwokctl
}

build_kustomize() {
  have kustomize && return 0
  use kustomize "$KUSTOMIZE"; local d="$src"
  printf 'module kubeaws.io/tools/kube-binaries/kustomize\n\ngo 1.26.0\n\nrequire sigs.k8s.io/kustomize/kustomize/v5 v%s\n\ntool sigs.k8s.io/kustomize/kustomize/v5\n' "$KUSTOMIZE" > "$d/go.mod"
  if [ ! -x "$out/kustomize" ]; then
    log "building kustomize v$KUSTOMIZE"
    (cd "$d" && go mod tidy >&2 && go build -ldflags "-s -w" -o "$out/kustomize.tmp" sigs.k8s.io/kustomize/kustomize/v5 >&2)
    mv "$out/kustomize.tmp" "$out/kustomize"
  fi
  link "$out" kustomize
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
