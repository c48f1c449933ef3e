#!/usr/bin/env bash
# Makes the cluster up.sh started a one-node cluster: containerd (its own
# config, root, state and socket under <work dir>/node), the images of
# images.sh imported locally, a CNI bridge network in a private conf dir, a
# kubelet (cgroupfs driver, cgroup v1 allowed, serving on 127.0.0.1 only) and
# kube-scheduler and kube-controller-manager (a few controllers, see below),
# then waits for the Node to be Ready.
#   node-up.sh <bin dir> <work dir>
# Machine-wide state it touches, all recorded in <work dir>/node/found.env and
# put back by node-down.sh: the top `kubepods` cgroup in every v1 hierarchy
# (its pids.max is the pods' PID ceiling: the kubelet writes pid_max minus
# systemReserved.pid), the CNI bridge $E2E_BRIDGE, netns mounts in /run/netns.
# It refuses to start over a leftover (processes in kubepods, the bridge, KUBE-
# iptables chains). The machine's sysctls and iptables are never written (see
# the kubelet below).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"
source "$here/node.env"
bin="${1:?usage: node-up.sh <bin dir> <work dir>}"
work="${2:?usage: node-up.sh <bin dir> <work dir>}"
for tool in kubelet kube-scheduler kube-controller-manager kubectl; do [[ -x "$bin/$tool" ]] || e2e_die "$bin/$tool missing (run build.sh)"; done
for tool in containerd containerd-shim-runc-v2 ctr runc; do
  command -v "$tool" >/dev/null || e2e_die "$tool not found (apt-get install -y containerd runc)"
done
for plugin in bridge host-local loopback; do
  [[ -x "$E2E_CNI_BIN/$plugin" ]] || e2e_die "$E2E_CNI_BIN/$plugin not found (apt-get install -y containernetworking-plugins)"
done
[[ -w /sys/fs/cgroup/pids ]] || e2e_die "no writable cgroup v1 pids hierarchy at /sys/fs/cgroup/pids (run as root)"
node="$work/node"
mkdir -p "$node"/{containerd/root,containerd/state,containerd/opt,containerd/certs.d/_default,cni/net.d,cni/ipam,kubelet,pod-logs}
source "$work/control-plane.env"

ip link show "$E2E_BRIDGE" >/dev/null 2>&1 && e2e_die "network interface $E2E_BRIDGE exists (a leftover of an earlier run? ip link del $E2E_BRIDGE)"
if [[ -d /sys/fs/cgroup/pids/kubepods ]] && [[ -n "$(find /sys/fs/cgroup/pids/kubepods -name cgroup.procs -exec cat {} + 2>/dev/null)" ]]; then
  e2e_die "processes run in /sys/fs/cgroup/pids/kubepods: another kubelet or a leftover run (test/e2e/cluster/node-down.sh <its work dir>)"
fi

for table in filter nat mangle; do
  iptables -t "$table" -S 2>/dev/null | grep KUBE- >/dev/null && e2e_die "iptables table $table has KUBE- chains (a leftover kubelet's? see node-down.sh)"
done

# --- what this run changes on the machine, for node-down.sh
pid_max="$(cat /proc/sys/kernel/pid_max)"
{
  echo "found_kubepods_pids_max=$(cat /sys/fs/cgroup/pids/kubepods/pids.max 2>/dev/null || echo none)"
  echo "found_netns='$(ls /run/netns 2>/dev/null | tr '\n' ' ')'"
} >"$node/found.env"

# --- containerd: nothing shared with a system containerd. Registry pulls go to
# 127.0.0.1:1 (refused at once): images are imported, and a pod naming any other
# image fails with ErrImagePull without traffic leaving loopback.
cat >"$node/containerd/certs.d/_default/hosts.toml" <<'TOML'
server = "https://127.0.0.1:1"
TOML
cat >"$node/containerd/config.toml" <<TOML
version = 2
root = "$node/containerd/root"
state = "$node/containerd/state"
[grpc]
  address = "$node/containerd/containerd.sock"
[ttrpc]
  address = "$node/containerd/containerd.sock.ttrpc"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$node/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$E2E_PAUSE_IMAGE"
  # runc fails every sandbox without CAP_SYS_RESOURCE unless oom_score_adj stays put.
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$E2E_CNI_BIN"
    conf_dir = "$node/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$node/containerd/certs.d"
TOML
# A bridge without masquerading: no iptables rule is added; pods reach each other and the host only.
cat >"$node/cni/net.d/10-pidguard-e2e.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "pidguard-e2e",
  "plugins": [
    {"type": "bridge", "bridge": "$E2E_BRIDGE", "isGateway": true, "ipMasq": false,
     "ipam": {"type": "host-local", "dataDir": "$node/cni/ipam", "ranges": [[{"subnet": "$E2E_POD_SUBNET"}]], "routes": [{"dst": "$E2E_POD_SUBNET"}]}},
    {"type": "loopback"}
  ]
}
JSON
e2e_spawn "$work/pids/containerd.pid" "$work/logs/containerd.log" containerd --config "$node/containerd/config.toml"
ctr=(ctr --address "$node/containerd/containerd.sock" -n k8s.io)
deadline=$((SECONDS + 60))
until "${ctr[@]}" version >/dev/null 2>&1; do
  kill -0 "$(cat "$work/pids/containerd.pid")" 2>/dev/null || { tail -n 30 "$work/logs/containerd.log" >&2; e2e_die "containerd exited (log: $work/logs/containerd.log)"; }
  ((SECONDS < deadline)) || e2e_die "containerd not answering on $node/containerd/containerd.sock after 60s"
  sleep 0.2
done
e2e_log "containerd $(containerd --version | awk '{print $3}') on $node/containerd/containerd.sock"

images="$(bash "$here/images.sh" "$node")"
"${ctr[@]}" images import "$images" >"$work/logs/images.log" 2>&1 \
  || { cat "$work/logs/images.log" >&2; e2e_die "ctr images import failed"; }
e2e_log "images imported: $(grep -c . "$work/logs/images.log") ($E2E_PAUSE_IMAGE, $E2E_TOOLS_IMAGE, $E2E_DOTNET_IMAGE)"

# --- kubelet: pods' PID ceiling = pid_max - systemReserved.pid, written by the kubelet into
# the top kubepods pids cgroup before any pod starts (the cap every bomb runs under).
kubelet_port="$(e2e_free_port)"
healthz_port="$(e2e_free_port)"
reserved=$((pid_max - E2E_PODS_PID_CEILING))
((reserved > 0)) || e2e_die "pid_max $pid_max is not above the pods' PID ceiling $E2E_PODS_PID_CEILING"
cat >"$node/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: $kubelet_port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $healthz_port
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: "$work/pki/ca.crt"}
authorization: {mode: AlwaysAllow}
containerRuntimeEndpoint: unix://$node/containerd/containerd.sock
cgroupDriver: cgroupfs
cgroupsPerQOS: true
failSwapOn: false
failCgroupV1: false
# Never rewrite this shared machine's kernel settings (panic, overcommit).
protectKernelDefaults: true
podLogsDir: $node/pod-logs
systemReserved: {pid: "$reserved"}
enforceNodeAllocatable: [pods]
evictionHard: {memory.available: "1Mi", nodefs.available: "1%", nodefs.inodesFree: "1%", imagefs.available: "1%", imagefs.inodesFree: "1%"}
# The imported images can never be pulled again: never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
# No KUBE-FIREWALL / KUBE-KUBELET-CANARY / KUBE-IPTABLES-HINT chains in the machine's iptables.
makeIPTablesUtilChains: false
registerNode: true
# Only pods that tolerate this taint run here: the API-level tests' pods stay Pending
# as they always did (their images do not exist here, and their CPU requests would
# fill the 2-core node), the node tests' pods tolerate it.
registerWithTaints: [{key: "$E2E_NODE_TAINT", value: "true", effect: NoSchedule}]
syncFrequency: 5s
nodeStatusUpdateFrequency: 5s
YAML
# protectKernelDefaults only checks: the kubelet refuses to start unless kernel.panic=10,
# kernel.panic_on_oops=1 and vm.overcommit_memory=1, and without it the kubelet writes
# those values into this shared machine's kernel. So the kubelet runs in a mount namespace
# of its own where read-only files with the expected values are bound over those three
# /proc/sys files (/proc is a private mount: nothing propagates to the host). Its root dir
# is made a shared mount first, so the volumes it mounts for pods reach containerd.
mkdir -p "$node/sysctl"
echo 1 >"$node/sysctl/overcommit_memory"
echo 10 >"$node/sysctl/panic"
echo 1 >"$node/sysctl/panic_on_oops"
mount --bind "$node/kubelet" "$node/kubelet"
mount --make-shared "$node/kubelet"
e2e_spawn "$work/pids/kubelet.pid" "$work/logs/kubelet.log" unshare --mount --propagation unchanged sh -c '
  set -e
  sysctls="$1"; shift
  for file in vm/overcommit_memory kernel/panic kernel/panic_on_oops; do
    mount --bind "$sysctls/${file#*/}" "/proc/sys/$file"
    mount -o remount,bind,ro "/proc/sys/$file"
  done
  exec "$@"' kubelet "$node/sysctl" \
  "$bin/kubelet" --config "$node/kubelet.yaml" --kubeconfig "$work/kubeconfig-admin" \
  --root-dir "$node/kubelet" --hostname-override "$E2E_NODE_NAME" --v 1
e2e_wait_ready kubelet "$work/pids/kubelet.pid" "$work/logs/kubelet.log" 120 "http://127.0.0.1:$healthz_port/healthz"

e2e_spawn "$work/pids/kube-scheduler.pid" "$work/logs/kube-scheduler.log" "$bin/kube-scheduler" \
  --kubeconfig "$work/kubeconfig-admin" --authentication-kubeconfig "$work/kubeconfig-admin" \
  --authorization-kubeconfig "$work/kubeconfig-admin" --bind-address 127.0.0.1 --secure-port "$(e2e_free_port)" \
  --leader-elect=false --v 1

# Controllers that never touch the objects the API-level tests create by hand (their
# Deployments, ReplicaSets and pods must stay as written): namespace deletion, garbage
# collection, and the kube-root-ca.crt ConfigMap every pod's service-account token
# volume needs. workload-controllers.sh starts the Deployment/ReplicaSet/DaemonSet
# controllers for the tests that want pods from workloads.
bash "$here/controller-manager.sh" start "$work" core namespace,garbagecollector,root-ca-cert-publisher

kubectl=("$bin/kubectl" --kubeconfig "$work/kubeconfig-admin")
deadline=$((SECONDS + 120))
until [[ "$("${kubectl[@]}" get node "$E2E_NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]; do
  kill -0 "$(cat "$work/pids/kubelet.pid")" 2>/dev/null || { tail -n 40 "$work/logs/kubelet.log" >&2; e2e_die "the kubelet exited (log: $work/logs/kubelet.log)"; }
  ((SECONDS < deadline)) || { "${kubectl[@]}" describe node "$E2E_NODE_NAME" >&2 || true; e2e_die "node $E2E_NODE_NAME not Ready after 120s (log: $work/logs/kubelet.log)"; }
  sleep 0.5
done
# The kubelet registers the node with node.kubernetes.io/not-ready:NoSchedule; the node
# lifecycle controller, which would lift it, does not run here (it would also act on the
# kubelet-less Nodes the agent test creates). The node is Ready: lift it.
"${kubectl[@]}" taint node "$E2E_NODE_NAME" node.kubernetes.io/not-ready:NoSchedule- >/dev/null
pods_max="$(cat /sys/fs/cgroup/pids/kubepods/pids.max)"
[[ "$pods_max" == "$E2E_PODS_PID_CEILING" ]] \
  || e2e_die "the kubelet set kubepods pids.max to $pods_max, not $E2E_PODS_PID_CEILING: no bomb may run"
cat >>"$work/control-plane.env" <<ENV
E2E_NODE_NAME=$E2E_NODE_NAME
E2E_CONTAINERD_SOCKET=$node/containerd/containerd.sock
E2E_KUBELET_PORT=$kubelet_port
ENV
e2e_log "node $E2E_NODE_NAME Ready (kubelet 127.0.0.1:$kubelet_port; pods' PID ceiling: kubepods pids.max $pods_max of pid_max $pid_max)"
