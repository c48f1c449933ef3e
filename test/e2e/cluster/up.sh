#!/usr/bin/env bash
# Starts a real control plane on loopback: etcd and kube-apiserver with TLS,
# client-certificate authentication, RBAC and service-account keys.
#   up.sh <bin dir> <work dir>
# Writes into <work dir>: pki/ (CA, certificates, keys), kubeconfig-admin
# (O=system:masters) and kubeconfig-user (CN=alice, only the ClusterRole below),
# logs/ (including audit.log: the API server's audit log of pods, workloads and
# namespaces), pids/, etcd-data/ and control-plane.env (ports, server URL).
# down.sh <work dir> stops it all. run.sh uses both.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"

bin="${1:?usage: up.sh <bin dir> <work dir>}"
work="${2:?usage: up.sh <bin dir> <work dir>}"
for tool in etcd kube-apiserver kubectl; do [[ -x "$bin/$tool" ]] || e2e_die "$bin/$tool missing (run build.sh)"; done
command -v openssl >/dev/null || e2e_die "openssl not found (apt-get install -y openssl)"
mkdir -p "$work"/{pki,logs,pids,etcd-data}
chmod 700 "$work/etcd-data"
pki="$work/pki"

# --- PKI: one CA signs the etcd and API server serving certificates and the client certificates.
openssl_quiet() { openssl "$@" 2>/dev/null || { openssl "$@"; exit 1; }; }
newkey() { openssl_quiet genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/$1.key"; }
# sign <name> <subject> <extensions>
sign() {
  newkey "$1"
  openssl_quiet req -new -key "$pki/$1.key" -subj "$2" -out "$pki/$1.csr"
  openssl_quiet x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 2 -sha256 -out "$pki/$1.crt" -extfile <(printf '%s\n' "$3")
  rm -f "$pki/$1.csr"
}
newkey ca
openssl_quiet req -x509 -new -key "$pki/ca.key" -subj "/CN=pidguard-e2e-ca" -days 2 -sha256 -out "$pki/ca.crt" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
server_ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
client_ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
sign etcd "/CN=etcd" "$server_ext"
sign apiserver "/CN=kube-apiserver" "$server_ext"
sign apiserver-etcd-client "/CN=kube-apiserver-etcd-client" "$client_ext"
sign admin "/O=system:masters/CN=pidguard-e2e-admin" "$client_ext"
sign alice "/CN=alice" "$client_ext"
newkey service-account
openssl_quiet pkey -in "$pki/service-account.key" -pubout -out "$pki/service-account.pub"

# --- etcd
etcd_port="$(e2e_free_port)"
etcd_peer_port="$(e2e_free_port)"
e2e_spawn "$work/pids/etcd.pid" "$work/logs/etcd.log" "$bin/etcd" \
  --name e2e --data-dir "$work/etcd-data" \
  --listen-client-urls "https://127.0.0.1:$etcd_port" --advertise-client-urls "https://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
  --initial-cluster "e2e=http://127.0.0.1:$etcd_peer_port" \
  --cert-file "$pki/etcd.crt" --key-file "$pki/etcd.key" --client-cert-auth --trusted-ca-file "$pki/ca.crt" \
  --unsafe-no-fsync --log-level warn
e2e_wait_ready etcd "$work/pids/etcd.pid" "$work/logs/etcd.log" 60 "https://127.0.0.1:$etcd_port/health" \
  --cacert "$pki/ca.crt" --cert "$pki/apiserver-etcd-client.crt" --key "$pki/apiserver-etcd-client.key"
e2e_log "etcd ready on 127.0.0.1:$etcd_port"

# --- kube-apiserver
# An audit log of pod and workload requests, so tests can read the audit
# annotations admission webhooks attach (pidguard's audit mode: would-deny, would-mutate).
cat >"$work/audit-policy.yaml" <<'YAML'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  resources:
  - {group: "", resources: [pods, namespaces]}
  - {group: apps, resources: [deployments, statefulsets, daemonsets, replicasets]}
  - {group: batch, resources: [jobs, cronjobs]}
- level: None
YAML
api_port="$(e2e_free_port)"
server="https://127.0.0.1:$api_port"
e2e_spawn "$work/pids/kube-apiserver.pid" "$work/logs/kube-apiserver.log" "$bin/kube-apiserver" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
  --etcd-servers "https://127.0.0.1:$etcd_port" --etcd-cafile "$pki/ca.crt" \
  --etcd-certfile "$pki/apiserver-etcd-client.crt" --etcd-keyfile "$pki/apiserver-etcd-client.key" \
  --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
  --client-ca-file "$pki/ca.crt" --anonymous-auth=false \
  --authorization-mode RBAC \
  --service-account-issuer https://kubernetes.default.svc --service-account-key-file "$pki/service-account.pub" \
  --service-account-signing-key-file "$pki/service-account.key" \
  --service-cluster-ip-range 10.0.0.0/24 \
  --audit-policy-file "$work/audit-policy.yaml" --audit-log-path "$work/logs/audit.log" --audit-log-mode blocking \
  --profiling=false --v 1
e2e_wait_ready kube-apiserver "$work/pids/kube-apiserver.pid" "$work/logs/kube-apiserver.log" 180 "$server/readyz" \
  --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key"
e2e_log "kube-apiserver ready at $server"

# --- kubeconfigs
kubeconfig() { # <file> <user> <cert name>
  cat >"$1" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster: {server: "$server", certificate-authority: "$pki/ca.crt"}
users:
- name: $2
  user: {client-certificate: "$pki/$3.crt", client-key: "$pki/$3.key"}
contexts:
- name: $2@e2e
  context: {cluster: e2e, user: $2}
current-context: $2@e2e
YAML
}
kubeconfig "$work/kubeconfig-admin" pidguard-e2e-admin admin
kubeconfig "$work/kubeconfig-user" alice alice

# --- alice: may manage namespaces and create workloads, so that only pidguard's
# namespace-label guard stands between her and pidguard.io/mode. Each namespace
# needs its `default` ServiceAccount for pods (no controller-manager creates it
# here): the harness creates it with the namespace; these are the built-in ones.
"$bin/kubectl" --kubeconfig "$work/kubeconfig-admin" apply -f - >/dev/null <<'YAML'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: pidguard-e2e-user}
rules:
- apiGroups: [""]
  resources: [namespaces]
  verbs: [get, list, watch, create, update, patch]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, create, delete]
- apiGroups: [apps]
  resources: [deployments, statefulsets, daemonsets, replicasets]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [batch]
  resources: [jobs, cronjobs]
  verbs: [get, list, watch, create, update, patch, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: pidguard-e2e-user}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: pidguard-e2e-user}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: default, namespace: default}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: default, namespace: kube-system}
YAML

cat >"$work/control-plane.env" <<ENV
E2E_BIN=$bin
E2E_SERVER=$server
E2E_ETCD_PORT=$etcd_port
E2E_API_PORT=$api_port
ENV
