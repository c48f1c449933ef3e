#!/usr/bin/env bash
# Builds the helm CLI (the Go module in helm/, pinned to one Helm release) into a cache outside
# the repository, for the chart tests (test/unit/chart/, test/e2e/chart.e2e.test.ts):
#   ${PIDGUARD_E2E_CACHE:-$HOME/.cache/pidguard-e2e}/helm-<version>-<hash>/bin/helm
# <hash> covers go.mod, go.sum and tools.go. Stamped as Helm's own Makefile does: its version, and
# the Kubernetes version `helm template` and `helm lint` assume (from the client-go it is built
# with). Built with the flags of the other builds here (cert-manager-build.sh), so Go's build cache
# is shared. Prints the bin directory (last line of stdout); progress goes to stderr.
# --cached-only: print it only if it is built already, else fail at once (the unit tests use this).
set -euo pipefail
cached_only=0
[[ "${1:-}" == --cached-only ]] && cached_only=1
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
module="$here/helm"
export PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null || { echo "helm-build.sh: go not found (expected /usr/local/go/bin/go)" >&2; exit 1; }
version="$(awk '$1 == "require" && $2 == "helm.sh/helm/v3" { print $3; exit }' "$module/go.mod")"
[[ -n "$version" ]] || { echo "helm-build.sh: helm.sh/helm/v3 is not required in $module/go.mod" >&2; exit 1; }
hash="$(cd "$module" && cat go.mod go.sum tools.go | sha256sum | cut -c1-12)"
out="${PIDGUARD_E2E_CACHE:-$HOME/.cache/pidguard-e2e}/helm-$version-$hash"
bin="$out/bin"
if [[ -x "$bin/helm" ]]; then
  echo "helm-build.sh: cached helm $version in $bin" >&2
  echo "$bin"
  exit 0
fi
if ((cached_only)); then
  echo "helm-build.sh: helm $version is not built in $bin: run \`bash test/e2e/cluster/helm-build.sh\` (Go module proxy; 6-12 min the first time, cached afterwards; .ci/run and npm run test:e2e do it)" >&2
  exit 1
fi
client_go="$(awk '$1 == "k8s.io/client-go" { print $2; exit }' "$module/go.mod")"   # v0.37.0 -> Kubernetes 1.37
k8s_minor="$(echo "$client_go" | cut -d. -f2)"
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$version -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
done
mkdir -p "$out"
# Built into a scratch directory and renamed into place: an interrupted build is never trusted.
staging="$(mktemp -d "$out/bin.partial.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
echo "helm-build.sh: building helm $version (first run: a few minutes)" >&2
start=$SECONDS
(cd "$module" && go build -buildvcs=false -trimpath -ldflags="$ldflags" -o "$staging/helm" helm.sh/helm/v3/cmd/helm) >&2
"$staging/helm" version --short >&2
rm -rf "$bin"
mv "$staging" "$bin"
trap - EXIT
echo "helm-build.sh: built in $((SECONDS - start))s into $bin" >&2
echo "$bin"
