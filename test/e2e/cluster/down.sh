#!/usr/bin/env bash
# Stops everything up.sh, node-up.sh, webhook.sh and install.sh started in <work dir>
# (webhook and cert-manager, then the node with node-down.sh, then kube-apiserver, then etcd) and
# deletes <work dir>, unless PIDGUARD_E2E_KEEP=1.
#   down.sh <work dir>
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"
work="${1:?usage: down.sh <work dir>}"
[[ -d "$work" ]] || exit 0
e2e_stop "$work/pids/webhook.pid" "$work"
for pidfile in "$work"/pids/cert-manager-*.pid; do e2e_stop "$pidfile" "$work"; done
if [[ -f "$work/control-plane.env" ]]; then
  source "$work/control-plane.env"
  bash "$here/node-down.sh" "$E2E_BIN" "$work"
fi
for name in kube-apiserver etcd; do
  e2e_stop "$work/pids/$name.pid" "$work"
done
if [[ "${PIDGUARD_E2E_KEEP:-}" == 1 ]]; then
  e2e_log "kept $work (PIDGUARD_E2E_KEEP=1): logs in $work/logs"
else
  rm -rf "$work"
fi
