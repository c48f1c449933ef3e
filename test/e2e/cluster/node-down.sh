#!/usr/bin/env bash
# Takes the node node-up.sh started in <work dir> down and puts the machine back
# as node-up.sh found it (down.sh calls it while the API server still runs):
# pods deleted through the API (the kubelet stops them: CNI DEL, unmounts), the
# kubelet and scheduler stopped, any container left killed, containerd and its
# shims stopped, processes left in the kubepods cgroups killed, the kubepods
# cgroups removed (or their pids.max restored if they existed before), mounts
# under <work dir> and the run's /run/netns entries unmounted, the bridge deleted.
#   node-down.sh <bin dir> <work dir>
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"
source "$here/node.env"
bin="${1:?usage: node-down.sh <bin dir> <work dir>}"
work="${2:?usage: node-down.sh <bin dir> <work dir>}"
node="$work/node"
[[ -f "$node/found.env" ]] || exit 0
source "$node/found.env"
sock="$node/containerd/containerd.sock"
ctr=(ctr --address "$sock" -n k8s.io)
running() { [[ -f "$work/pids/$1.pid" ]] && kill -0 "$(cat "$work/pids/$1.pid")" 2>/dev/null; }
tasks() { "${ctr[@]}" tasks ls -q 2>/dev/null; }

for pidfile in "$work"/pids/kube-controller-manager-*.pid; do e2e_stop "$pidfile" "$work"; done
e2e_stop "$work/pids/kube-scheduler.pid" "$work"
if running kubelet && running kube-apiserver; then
  "$bin/kubectl" --kubeconfig "$work/kubeconfig-admin" delete pods --all --all-namespaces \
    --force --grace-period=0 --wait=false >/dev/null 2>&1
  for ((i = 0; i < 120; i++)); do
    [[ -z "$(tasks)" ]] && break
    sleep 0.25
  done
  [[ -z "$(tasks)" ]] || e2e_log "the kubelet left $(tasks | wc -l) containers running 30s after the pods were deleted; killing them"
fi
e2e_stop "$work/pids/kubelet.pid" "$work"
if running containerd; then
  for task in $(tasks); do "${ctr[@]}" tasks kill -s SIGKILL "$task" >/dev/null 2>&1; done
  sleep 0.5
  for task in $(tasks); do "${ctr[@]}" tasks rm -f "$task" >/dev/null 2>&1; done
  for container in $("${ctr[@]}" containers ls -q 2>/dev/null); do "${ctr[@]}" containers rm "$container" >/dev/null 2>&1; done
fi
e2e_stop "$work/pids/containerd.pid" "$work"
# Shims outlive containerd; theirs name its socket on their command line.
for pid in $(pgrep -f "containerd-shim-runc-v2.*$node" || true); do kill -KILL "$pid" 2>/dev/null; done

for hierarchy in /sys/fs/cgroup/*/; do
  top="${hierarchy}kubepods"
  [[ -d "$top" ]] || continue
  for ((i = 0; i < 20; i++)); do
    procs="$(find "$top" -name cgroup.procs -exec cat {} + 2>/dev/null)"
    [[ -z "$procs" ]] && break
    # shellcheck disable=SC2086
    kill -KILL $procs 2>/dev/null
    sleep 0.25
  done
  if [[ "$found_kubepods_pids_max" == none ]]; then
    find "$top" -depth -type d -exec rmdir {} + 2>/dev/null
    [[ -d "$top" ]] && e2e_log "could not remove $top"
  else
    find "$top" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null
  fi
done
if [[ "$found_kubepods_pids_max" != none && -f /sys/fs/cgroup/pids/kubepods/pids.max ]]; then
  echo "$found_kubepods_pids_max" >/sys/fs/cgroup/pids/kubepods/pids.max \
    || e2e_log "could not restore /sys/fs/cgroup/pids/kubepods/pids.max to $found_kubepods_pids_max"
fi

# Mounts under the work dir (container rootfs, pod volumes), deepest first.
awk -v prefix="$work/" 'index($2, prefix) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r mount; do
  umount -l "$mount" 2>/dev/null || e2e_log "could not unmount $mount"
done
for netns in /run/netns/*; do
  [[ -e "$netns" ]] || continue
  [[ " $found_netns " == *" $(basename "$netns") "* ]] && continue
  umount -l "$netns" 2>/dev/null
  rm -f "$netns"
done
# The kubelet is told not to create its iptables chains (makeIPTablesUtilChains: false);
# node-up.sh checked none existed, so any KUBE- chain now is this run's.
for ipt in iptables ip6tables; do
  for chain in INPUT OUTPUT; do "$ipt" -t filter -D "$chain" -j KUBE-FIREWALL 2>/dev/null; done
  for table in filter nat mangle; do
    for chain in $("$ipt" -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-/ { print $2 }'); do
      "$ipt" -t "$table" -F "$chain" 2>/dev/null
      "$ipt" -t "$table" -X "$chain" 2>/dev/null || e2e_log "could not delete $ipt chain $chain in table $table"
    done
  done
done
if ip link show "$E2E_BRIDGE" >/dev/null 2>&1; then
  ip link del "$E2E_BRIDGE" || e2e_log "could not delete network interface $E2E_BRIDGE"
fi
e2e_log "node $E2E_NODE_NAME down"
