#!/usr/bin/env bash
# Builds cert-manager's controller and cainjector (the Go module in certmanager/, pinned to the
# cert-manager release whose CRDs crds.sh installs) into a cache outside the repository:
#   ${PIDGUARD_E2E_CACHE:-$HOME/.cache/pidguard-e2e}/cert-manager-<version>-<hash>/bin/{controller,cainjector}
# <hash> covers go.mod, go.sum and the Go sources. Prints the bin directory (last line of stdout).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
module="$here/certmanager"
export PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null || { echo "cert-manager-build.sh: go not found (expected /usr/local/go/bin/go)" >&2; exit 1; }
version="$(awk '$1 == "github.com/cert-manager/cert-manager" { print $2; exit }' "$module/go.mod")"
crds_version="$(sed -n 's|^cert_manager="github.com/cert-manager/cert-manager@\(.*\)"$|\1|p' "$here/crds.sh")"
[[ "$version" == "$crds_version" ]] || { echo "cert-manager-build.sh: certmanager/go.mod pins $version, crds.sh $crds_version: keep them equal" >&2; exit 1; }
hash="$(cd "$module" && cat go.mod go.sum controller/main.go cainjector/main.go | sha256sum | cut -c1-12)"
out="${PIDGUARD_E2E_CACHE:-$HOME/.cache/pidguard-e2e}/cert-manager-$version-$hash"
bin="$out/bin"
if [[ -x "$bin/controller" && -x "$bin/cainjector" ]]; then
  echo "cert-manager-build.sh: cached cert-manager $version in $bin" >&2
  echo "$bin"
  exit 0
fi
mkdir -p "$out"
staging="$(mktemp -d "$out/bin.partial.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
echo "cert-manager-build.sh: building cert-manager $version controller and cainjector (first run: a few minutes)" >&2
start=$SECONDS
(cd "$module" && go build -buildvcs=false -trimpath -ldflags="-s -w" -o "$staging/" ./controller ./cainjector) >&2
rm -rf "$bin"
mv "$staging" "$bin"
trap - EXIT
echo "cert-manager-build.sh: built in $((SECONDS - start))s into $bin" >&2
echo "$bin"
