#!/usr/bin/env bash
# Starts or stops a kube-controller-manager running only <controllers> for the
# cluster in <work dir>, recorded as pids/kube-controller-manager-<name>.pid.
#   controller-manager.sh start <work dir> <name> <controller,controller,...>
#   controller-manager.sh stop <work dir> <name>
# node-up.sh starts "core" (namespace, garbagecollector, root-ca-cert-publisher);
# tests that want pods from Deployments, ReplicaSets and DaemonSets start
# "workloads" through the harness (startWorkloadControllers) and stop it after:
# while it runs, it reconciles every workload in the cluster, including the ones
# other tests create by hand.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"
action="${1:?usage: controller-manager.sh start|stop <work dir> <name> [controllers]}"
work="${2:?usage: controller-manager.sh start|stop <work dir> <name> [controllers]}"
name="${3:?usage: controller-manager.sh start|stop <work dir> <name> [controllers]}"
source "$work/control-plane.env"
pidfile="$work/pids/kube-controller-manager-$name.pid"
log="$work/logs/kube-controller-manager-$name.log"
case "$action" in
  start)
    controllers="${4:?controller-manager.sh start needs the controllers to run}"
    if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then e2e_die "kube-controller-manager $name already running"; fi
    port="$(e2e_free_port)"
    e2e_spawn "$pidfile" "$log" "$E2E_BIN/kube-controller-manager" \
      --kubeconfig "$work/kubeconfig-admin" --authentication-kubeconfig "$work/kubeconfig-admin" \
      --authorization-kubeconfig "$work/kubeconfig-admin" --bind-address 127.0.0.1 --secure-port "$port" \
      --leader-elect=false --controllers "$controllers" --root-ca-file "$work/pki/ca.crt" \
      --use-service-account-credentials=false --v 1
    e2e_wait_ready "kube-controller-manager $name" "$pidfile" "$log" 60 "https://127.0.0.1:$port/healthz" -k \
      --cert "$work/pki/admin.crt" --key "$work/pki/admin.key"
    e2e_log "kube-controller-manager $name running ($controllers)"
    ;;
  stop)
    e2e_stop "$pidfile" "$work"
    ;;
  *) e2e_die "usage: controller-manager.sh start|stop <work dir> <name> [controllers]" ;;
esac
