#!/usr/bin/env bash
# The shipped install, for real, on the e2e cluster's node (test/e2e/install.e2e.test.ts):
#   install.sh up <work dir>    import the image built by image.sh into the node's containerd,
#                               install cert-manager's CRDs, start its controller and cainjector
#                               (cert-manager-build.sh) as local processes, `kubectl apply -k` the
#                               default install through test/e2e/install, wait until the
#                               Certificates are Ready and the webhook and agent pods are Ready
#   install.sh down <work dir>  uninstall as docs/INSTALL.md says (webhook configurations first),
#                               wait until pidguard's pods are gone, stop cert-manager, and register
#                               the local webhook's configurations again (run.sh's webhooks.yaml)
# Reads <work dir>/control-plane.env (run.sh, up.sh, node-up.sh) and <work dir>/artifacts.env
# (run.sh: E2E_IMAGE_ARCHIVE, E2E_CERT_MANAGER_BIN).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
source "$here/lib.sh"
action="${1:?usage: install.sh up|down <work dir>}"
work="${2:?usage: install.sh up|down <work dir>}"
source "$work/control-plane.env"
source "$work/artifacts.env"
kubectl=("$E2E_BIN/kubectl" --kubeconfig "$work/kubeconfig-admin")
overlay="$work/install"
image=ghcr.io/pidguard/pidguard:0.1.0

case "$action" in
  up)
    start=$SECONDS
    ctr=(ctr --address "$E2E_CONTAINERD_SOCKET" -n k8s.io)
    "${ctr[@]}" images import "$E2E_IMAGE_ARCHIVE" >"$work/logs/install-image.log" 2>&1 \
      || { cat "$work/logs/install-image.log" >&2; e2e_die "ctr images import of $E2E_IMAGE_ARCHIVE failed"; }
    # grep reads the whole list (no -q): with pipefail, -q would exit at the first match and the
    # SIGPIPE of a still-writing ctr would fail the pipeline, a false "not imported".
    "${ctr[@]}" images ls -q | grep -xF "$image" >/dev/null || e2e_die "$image is not in containerd after the import (log: $work/logs/install-image.log)"
    e2e_log "install: $image imported into the node's containerd ($((SECONDS - start))s)"

    for file in $(bash "$here/crds.sh" | grep /cert-manager.io_); do
      "${kubectl[@]}" apply --server-side --force-conflicts -f "$file" >/dev/null
    done
    "${kubectl[@]}" wait --for condition=Established --timeout 60s crd/certificates.cert-manager.io crd/issuers.cert-manager.io crd/certificaterequests.cert-manager.io >/dev/null
    for component in controller cainjector; do
      pidfile="$work/pids/cert-manager-$component.pid"
      [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null && e2e_die "cert-manager $component already running"
      e2e_spawn "$pidfile" "$work/logs/cert-manager-$component.log" "$E2E_CERT_MANAGER_BIN/$component" --kubeconfig "$work/kubeconfig-admin"
    done
    e2e_log "install: cert-manager controller and cainjector started (logs: $work/logs/cert-manager-*.log)"

    # The overlay's own patches are static; the API server's address changes per run.
    mkdir -p "$overlay"
    cat >"$overlay/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(realpath --relative-to="$overlay" "$repo/test/e2e/install")
patches:
  - target: {group: apps, kind: Deployment, name: pidguard-webhook}
    patch: &api |-
      - op: add
        path: /spec/template/spec/containers/0/env/-
        value: {name: KUBERNETES_SERVICE_HOST, value: 127.0.0.1}
      - op: add
        path: /spec/template/spec/containers/0/env/-
        value: {name: KUBERNETES_SERVICE_PORT, value: "$E2E_API_PORT"}
  - target: {group: apps, kind: DaemonSet, name: pidguard-agent}
    patch: *api
YAML
    "${kubectl[@]}" apply -k "$overlay" >"$work/logs/install-apply.log" 2>&1 \
      || { cat "$work/logs/install-apply.log" >&2; e2e_die "kubectl apply -k $overlay failed"; }
    e2e_log "install: kubectl apply -k of the default install through test/e2e/install"
    ns=(-n pidguard-system)
    "${kubectl[@]}" "${ns[@]}" wait --for condition=Ready --timeout 120s certificate/pidguard-ca certificate/pidguard-webhook >&2 \
      || { tail -n 30 "$work/logs/cert-manager-controller.log" >&2; e2e_die "the Certificates are not Ready"; }
    "${kubectl[@]}" "${ns[@]}" rollout status --timeout 180s deployment/pidguard-webhook >&2 \
      && "${kubectl[@]}" "${ns[@]}" rollout status --timeout 180s daemonset/pidguard-agent >&2 \
      || { "${kubectl[@]}" "${ns[@]}" get pods -o wide >&2; "${kubectl[@]}" "${ns[@]}" get events >&2; e2e_die "pidguard's pods are not Ready"; }
    e2e_log "install: Certificates Ready, webhook and agent pods Ready ($((SECONDS - start))s)"
    ;;
  down)
    start=$SECONDS
    # Webhook configurations first (docs/INSTALL.md, "Uninstall").
    "${kubectl[@]}" delete --ignore-not-found validatingwebhookconfiguration pidguard >&2
    "${kubectl[@]}" delete --ignore-not-found mutatingwebhookconfiguration pidguard >&2
    if [[ -f "$overlay/kustomization.yaml" ]]; then
      "${kubectl[@]}" delete -k "$overlay" --ignore-not-found --wait=false >/dev/null 2>&1 || true
    fi
    # Gone, not terminating: later files apply the install (dry run) into this namespace again and
    # start agents of their own.
    # A namespace that does not go away fails the step, but only after cert-manager is stopped and
    # the local webhook is registered again, so one failed install does not fail every later file.
    stuck=
    if "${kubectl[@]}" get namespace pidguard-system >/dev/null 2>&1; then
      "${kubectl[@]}" wait --for=delete namespace/pidguard-system --timeout 180s >/dev/null 2>&1 \
        || { "${kubectl[@]}" get namespace pidguard-system -o yaml >&2 || true; stuck=1; }
    fi
    for component in cainjector controller; do
      e2e_stop "$work/pids/cert-manager-$component.pid" "$work"
    done
    "${kubectl[@]}" apply -f "$work/webhooks.yaml" >&2
    e2e_wait_denying 60 "${kubectl[@]}" || e2e_die "the local webhook's configurations are not live again"
    [[ -z "$stuck" ]] || e2e_die "namespace pidguard-system not gone 180s after the uninstall"
    e2e_log "install: uninstalled ($((SECONDS - start))s); the local webhook's configurations are registered again"
    ;;
  *) e2e_die "usage: install.sh up|down <work dir>" ;;
esac
