#!/usr/bin/env bash
# Fetches the CustomResourceDefinitions that pidguard's kustomize install uses
# but does not ship, from their projects' published Go modules (read-only, from
# the module cache; nothing is copied into this repository), and prints their
# paths one per line.
#   cert-manager (Issuer, Certificate): deploy/crds/ of github.com/cert-manager/cert-manager
#   Prometheus Operator (ServiceMonitor, PrometheusRule, PodMonitor):
#     example/prometheus-operator-crd/ of github.com/prometheus-operator/prometheus-operator
set -euo pipefail
export PATH="/usr/local/go/bin:$PATH"
cert_manager="github.com/cert-manager/cert-manager@v1.21.2"
prometheus_operator="github.com/prometheus-operator/prometheus-operator@v0.85.0"

module_dir() { # <module@version>: downloads it if needed, prints its directory
  (cd "${TMPDIR:-/tmp}" && go mod download -json "$1") | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const m = JSON.parse(s);
      if (m.Error || !m.Dir) { console.error(`crds.sh: ${m.Error ?? "no Dir for " + m.Path}`); process.exit(1); }
      console.log(m.Dir);
    });'
}
cm="$(module_dir "$cert_manager")"
po="$(module_dir "$prometheus_operator")"
files=(
  "$cm/deploy/crds/cert-manager.io_issuers.yaml"
  "$cm/deploy/crds/cert-manager.io_clusterissuers.yaml"
  "$cm/deploy/crds/cert-manager.io_certificates.yaml"
  "$cm/deploy/crds/cert-manager.io_certificaterequests.yaml"
  "$po/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"
  "$po/example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml"
  "$po/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml"
)
for file in "${files[@]}"; do
  [[ -f "$file" ]] || { echo "crds.sh: $file is not in the module" >&2; exit 1; }
  echo "$file"
done
