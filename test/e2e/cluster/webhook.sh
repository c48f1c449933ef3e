#!/usr/bin/env bash
# Starts or stops pidguard's webhook (`pidguard serve`) as a local process for
# the cluster in <work dir>. run.sh starts it; tests that need it down (the
# failurePolicy scenario) call this same script through the harness.
#   webhook.sh start|stop <work dir>
# The serving certificate (<work dir>/webhook/tls.crt, issued for 127.0.0.1 by
# <work dir>/webhook/ca.crt) is made by run.sh. Ports are fixed because the
# e2e overlay's clientConfig.url is https://127.0.0.1:18443.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"
repo="$(cd "$here/../../.." && pwd)"
action="${1:?usage: webhook.sh start|stop <work dir>}"
work="${2:?usage: webhook.sh start|stop <work dir>}"
port=18443
metrics_port=19090
pidfile="$work/pids/webhook.pid"
log="$work/logs/webhook.log"

case "$action" in
  start)
    [[ -f "$work/webhook/tls.crt" ]] || e2e_die "no webhook certificate in $work/webhook"
    if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then e2e_die "webhook already running (pid $(cat "$pidfile"))"; fi
    for p in "$port" "$metrics_port"; do
      e2e_port_busy "$p" && e2e_die "127.0.0.1:$p is in use (another pidguard serve or e2e run?): the e2e overlay needs it"
    done
    e2e_spawn "$pidfile" "$log" node "$repo/bin/pidguard.js" serve \
      --address 127.0.0.1 --port "$port" --metrics-port "$metrics_port" \
      --tls-cert "$work/webhook/tls.crt" --tls-key "$work/webhook/tls.key" \
      --kubeconfig "$work/kubeconfig-admin"
    e2e_wait_ready "pidguard serve" "$pidfile" "$log" 60 "https://127.0.0.1:$port/readyz" --cacert "$work/webhook/ca.crt"
    e2e_log "pidguard webhook ready on 127.0.0.1:$port (metrics 127.0.0.1:$metrics_port, pid $(cat "$pidfile"))"
    ;;
  stop)
    e2e_stop "$pidfile" "$work"
    for p in "$port" "$metrics_port"; do
      ! e2e_port_busy "$p" || e2e_die "127.0.0.1:$p still listening after the webhook stopped"
    done
    e2e_log "pidguard webhook stopped"
    ;;
  *) e2e_die "usage: webhook.sh start|stop <work dir>" ;;
esac
