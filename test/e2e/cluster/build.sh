#!/usr/bin/env bash
# Builds the cluster the end-to-end tests run against (kube-apiserver,
# kube-controller-manager, kube-scheduler, kubelet, kubectl, etcd) from the Go
# module in controlplane/, through the Go module proxy, into a cache outside
# the repository:
#   ${PIDGUARD_E2E_CACHE:-$HOME/.cache/pidguard-e2e}/<k8s version>-<hash>/bin
# <hash> covers go.mod, go.sum and the Go sources, so a changed pin builds anew.
# Prints the bin directory on stdout (last line); progress goes to stderr.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
module="$here/controlplane"
export PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null || { echo "build.sh: go not found (expected /usr/local/go/bin/go)" >&2; exit 1; }

k8s_version="$(awk '$1 == "k8s.io/kubernetes" { print $2; exit }' "$module/go.mod")"
[[ -n "$k8s_version" ]] || { echo "build.sh: k8s.io/kubernetes is not required in $module/go.mod" >&2; exit 1; }
hash="$(cd "$module" && cat go.mod go.sum tools.go etcd/main.go | sha256sum | cut -c1-12)"
cache="${PIDGUARD_E2E_CACHE:-$HOME/.cache/pidguard-e2e}"
out="$cache/$k8s_version-$hash"
bin="$out/bin"

binaries=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl etcd)
cached=1
for b in "${binaries[@]}"; do [[ -x "$bin/$b" ]] || cached=0; done
if ((cached)); then
  echo "build.sh: cached control plane $k8s_version in $bin" >&2
  echo "$bin"
  exit 0
fi

# Stamp the version the way Kubernetes' own build does, so `kubectl version`
# and the API server's /version report the pinned release, not v0.0.0-master.
minor="${k8s_version#v1.}"; minor="${minor%%.*}"
version_flags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  version_flags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done

mkdir -p "$out"
# Build into a scratch directory and rename it into place, so an interrupted
# build never leaves a half-filled bin/ that a later run would trust.
staging="$(mktemp -d "$out/bin.partial.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
echo "build.sh: building ${binaries[*]} $k8s_version (first run: several minutes; go $(go env GOVERSION), GOMODCACHE $(go env GOMODCACHE))" >&2
start=$SECONDS
(
  cd "$module"
  # go.sum is committed, so go build downloads exactly the pinned modules.
  go build -buildvcs=false -trimpath -ldflags="-s -w $version_flags" -o "$staging/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubectl ./etcd
) >&2
rm -rf "$bin"
mv "$staging" "$bin"
trap - EXIT
echo "build.sh: built in $((SECONDS - start))s into $bin" >&2
"$bin/kube-apiserver" --version >&2
echo "$bin"
