#!/usr/bin/env bash
# `npm run test:e2e`: pidguard against a real kube-apiserver and etcd.
#   build (cached) -> up (etcd, kube-apiserver) -> node-up (containerd, kubelet,
#   kube-scheduler: a one-node cluster) -> webhook certificate -> pidguard serve ->
#   register the webhook configurations rendered from manifests/overlays/e2e ->
#   jest e2e -> down (node-down puts the machine's kubepods cgroups back)
# Extra arguments go to jest (e.g. `npm run test:e2e -- -t dry-run`).
# PIDGUARD_E2E_KEEP=1 keeps the work dir (logs, kubeconfigs) after the run.
# PIDGUARD_E2E_HOLD=1 sets everything up, then waits (no jest) until Ctrl-C.
# PIDGUARD_E2E_CACHE: where the control-plane binaries are cached.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cluster_dir="$here/cluster"
source "$cluster_dir/lib.sh"
cd "$repo"
export PATH="/usr/local/go/bin:$PATH"
run_start=$SECONDS

# The webhook needs fixed ports (the e2e overlay's URL): one run at a time per machine.
cache="${PIDGUARD_E2E_CACHE:-$HOME/.cache/pidguard-e2e}"
mkdir -p "$cache"
exec 9>"$cache/run.lock"
if ! flock -n 9; then
  e2e_log "another e2e run holds $cache/run.lock; waiting for it"
  flock -w 1800 9 || e2e_die "gave up waiting for $cache/run.lock"
fi

step=$SECONDS
bin="$(bash "$cluster_dir/build.sh" | tail -n 1)"
e2e_log "control plane binaries: ${bin} ($((SECONDS - step))s)"
step=$SECONDS
npm run --silent build
e2e_log "pidguard built ($((SECONDS - step))s)"
# The shipped artifacts install.e2e.test.ts runs: the image, built from the Dockerfile with
# buildah, and cert-manager's controller and cainjector (both cached by their inputs).
step=$SECONDS
image_archive="$(bash "$cluster_dir/image.sh" | tail -n 1)"
cert_manager_bin="$(bash "$cluster_dir/cert-manager-build.sh" | tail -n 1)"
# helm for chart.e2e.test.ts (cached; it finds it with helm-build.sh --cached-only).
bash "$cluster_dir/helm-build.sh" >/dev/null
e2e_log "image, cert-manager and helm built ($((SECONDS - step))s)"

work="$(mktemp -d "${TMPDIR:-/tmp}/pidguard-e2e.XXXXXX")"
jest_pid=""
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [[ -n "${jest_pid:-}" ]] && kill -0 "$jest_pid" 2>/dev/null; then
    e2e_log "stopping jest (pid $jest_pid)"
    kill -TERM "$jest_pid" 2>/dev/null || true
    wait "$jest_pid" 2>/dev/null || true
  fi
  bash "$cluster_dir/down.sh" "$work"
  e2e_log "done in $((SECONDS - run_start))s (exit $status)"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step=$SECONDS
bash "$cluster_dir/up.sh" "$bin" "$work"
source "$work/control-plane.env"
e2e_log "control plane up ($((SECONDS - step))s)"
printf 'E2E_IMAGE_ARCHIVE=%s\nE2E_CERT_MANAGER_BIN=%s\n' "$image_archive" "$cert_manager_bin" >"$work/artifacts.env"
step=$SECONDS
bash "$cluster_dir/node-up.sh" "$bin" "$work"
source "$work/control-plane.env"
e2e_log "node up ($((SECONDS - step))s)"
kubectl_admin=("$bin/kubectl" --kubeconfig "$work/kubeconfig-admin")

# --- the webhook: its own test CA and a serving certificate for 127.0.0.1, made the documented way
node "$repo/bin/pidguard.js" certs --out "$work/webhook" --ip 127.0.0.1 --days 2 >&2
bash "$cluster_dir/webhook.sh" start "$work"

# --- register the shipped webhook configurations, pointed at 127.0.0.1 with the test CA
"${kubectl_admin[@]}" kustomize "$repo/manifests/overlays/e2e" >"$work/webhooks.rendered.yaml"
node "$cluster_dir/inject-ca.mjs" "$work/webhook/ca.crt" <"$work/webhooks.rendered.yaml" >"$work/webhooks.yaml"
"${kubectl_admin[@]}" apply -f "$work/webhooks.yaml" >&2
# The API server picks new webhook configurations up asynchronously: wait until
# a BestEffort pod (dry run) in the enforce-by-default `default` namespace is
# denied by pidguard, so that the first test does not race the registration.
e2e_wait_denying 60 "${kubectl_admin[@]}" || e2e_die "the API server does not call pidguard 60s after the webhook configurations were applied (logs: $work/logs)"
e2e_log "webhook configurations registered and live"

# --- third-party CRDs for the manifests dry-run test (a failure here is reported by that test)
crds_error=""
if ! crds="$(bash "$cluster_dir/crds.sh" 2>"$work/logs/crds.log")"; then
  crds=""
  crds_error="$(tail -n 5 "$work/logs/crds.log")"
  e2e_log "third-party CRDs unavailable: $crds_error"
fi

source "$cluster_dir/node.env"
E2E_NODE_NAME="$E2E_NODE_NAME" E2E_NODE_TAINT="$E2E_NODE_TAINT" E2E_CONTAINERD_SOCKET="$E2E_CONTAINERD_SOCKET" E2E_PODS_PID_CEILING="$E2E_PODS_PID_CEILING" \
E2E_TOOLS_IMAGE="$E2E_TOOLS_IMAGE" E2E_DOTNET_IMAGE="$E2E_DOTNET_IMAGE" E2E_PAUSE_IMAGE="$E2E_PAUSE_IMAGE" \
E2E_SERVER="$E2E_SERVER" E2E_WORK="$work" E2E_BIN="$bin" E2E_CRDS="$crds" E2E_CRDS_ERROR="$crds_error" E2E_REPO="$repo" node -e '
  const { env } = process;
  const work = env.E2E_WORK;
  const cluster = {
    server: env.E2E_SERVER,
    adminKubeconfig: `${work}/kubeconfig-admin`,
    userKubeconfig: `${work}/kubeconfig-user`,
    userName: "alice",
    caFile: `${work}/pki/ca.crt`,
    auditLog: `${work}/logs/audit.log`,
    binDir: env.E2E_BIN,
    workDir: work,
    repoDir: env.E2E_REPO,
    webhook: {
      script: `${env.E2E_REPO}/test/e2e/cluster/webhook.sh`,
      url: "https://127.0.0.1:18443",
      metricsUrl: "http://127.0.0.1:19090/metrics",
      caFile: `${work}/webhook/ca.crt`,
      pidFile: `${work}/pids/webhook.pid`,
      logFile: `${work}/logs/webhook.log`,
    },
    node: {
      name: env.E2E_NODE_NAME,
      taint: env.E2E_NODE_TAINT,
      containerdSocket: env.E2E_CONTAINERD_SOCKET,
      podLogsDir: `${work}/node/pod-logs`,
      kubeletLog: `${work}/logs/kubelet.log`,
      podsPidCeiling: Number(env.E2E_PODS_PID_CEILING),
      images: { pause: env.E2E_PAUSE_IMAGE, tools: env.E2E_TOOLS_IMAGE, dotnet: env.E2E_DOTNET_IMAGE },
    },
    thirdPartyCrds: { files: env.E2E_CRDS.split("\n").filter(Boolean), error: env.E2E_CRDS_ERROR || undefined },
  };
  require("fs").writeFileSync(`${work}/cluster.json`, JSON.stringify(cluster, null, 2) + "\n");
'
export PIDGUARD_E2E_DIR="$work"
e2e_log "cluster ready in $((SECONDS - run_start))s: PIDGUARD_E2E_DIR=$work"

if [[ "${PIDGUARD_E2E_HOLD:-}" == 1 ]]; then
  e2e_log "PIDGUARD_E2E_HOLD=1: holding the cluster; in another shell:"
  e2e_log "  export PIDGUARD_E2E_DIR=$work KUBECONFIG=$work/kubeconfig-admin PATH=$bin:\$PATH"
  e2e_log "  NODE_OPTIONS=--experimental-vm-modules npx jest --selectProjects e2e --runInBand <file>"
  e2e_log "stop with Ctrl-C or kill $$ (everything is torn down)"
  while :; do sleep 3600 & wait $! || true; done
fi

# jest runs in the background and the script waits for it, so that a SIGTERM or
# Ctrl-C reaches the trap at once; cleanup stops jest before the cluster.
NODE_OPTIONS=--experimental-vm-modules "$repo/node_modules/.bin/jest" --selectProjects e2e --runInBand "$@" 9>&- &
jest_pid=$!
set +e
wait "$jest_pid"
status=$?
set -e
jest_pid=""
exit "$status"
